/* threadline lineage view: lays the graph out with dagre and draws it as SVG.
   Parent runs are groups (dagre compound nodes); big groups start collapsed, shown as one
   node with their counts; a click on a group's title folds or unfolds it. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var COLLAPSE_OVER = 40;   // groups with more records than this start collapsed
  var SHOW_AT_MOST = 500;   // an unfolded group draws this many children, then "N more"
  var data = JSON.parse(document.getElementById("tl-data").textContent);
  var nodes = {}, order = [], kids = {}, place = {}, collapsed = {}, selected = null, matches = {};
  var transforms = data.transforms || {};

  data.nodes.forEach(function (n) {
    nodes[n.id] = n; order.push(n.id);
    if (n.parent && n.type === "run") {
      kids[n.parent] = kids[n.parent] || [];
      place[n.id] = kids[n.parent].length;
      kids[n.parent].push(n.id);
    }
  });
  data.nodes.forEach(function (n) {  // parents missing from the data are roots
    if (n.parent && !nodes[n.parent]) { n.parent = null; }
  });

  // records inside a group: its child runs (recursively) and what those runs wrote
  var size = {};
  function groupSize(id) {
    if (size[id] !== undefined) { return size[id]; }
    var total = 0;
    (kids[id] || []).forEach(function (k) { total += 1 + groupSize(k); });
    size[id] = total;
    return total;
  }
  var statusCount = {};
  function countStatuses(id) {
    if (statusCount[id]) { return statusCount[id]; }
    var counts = {};
    (kids[id] || []).forEach(function (k) {
      counts[nodes[k].status] = (counts[nodes[k].status] || 0) + 1;
      var inner = countStatuses(k);
      Object.keys(inner).forEach(function (s) { counts[s] = (counts[s] || 0) + inner[s]; });
    });
    statusCount[id] = counts;
    return counts;
  }
  Object.keys(kids).forEach(function (g) { if (groupSize(g) > COLLAPSE_OVER) { collapsed[g] = true; } });
  if (order.length > 2000) { Object.keys(kids).forEach(function (g) { collapsed[g] = true; }); }
  reveal(data.start);

  function ancestors(id) {  // the groups holding a record, outermost last
    var chain = [], n = nodes[id];
    var run = n.type === "run" ? n.parent : n.producer;
    if (n.type === "artifact" && run && nodes[run]) { chain.push(run); run = nodes[run].parent; }
    while (run && nodes[run]) { chain.push(run); run = nodes[run].parent; }
    return chain;
  }
  function reveal(id) {  // unfold every group a record is hidden in
    if (!nodes[id]) { return; }
    ancestors(id).forEach(function (g) { delete collapsed[g]; });
  }
  var repCache = null;
  function rep(id) {  // what stands for a record on screen: itself, a folded group, "more"
    if (repCache[id] !== undefined) { return repCache[id]; }
    var chain = ancestors(id), shown = id;
    if (nodes[id].type === "artifact" && chain.length) {
      // an artifact is inside its producer's groups, not the producer itself
      if (!kids[chain[0]]) { chain = chain.slice(1); }
    }
    for (var i = chain.length - 1; i >= 0; i--) {
      if (collapsed[chain[i]] && chain[i] !== id) { shown = chain[i]; break; }
    }
    if (shown === id) {
      var n = nodes[id], holder = n.type === "run" ? n.parent : null;
      if (holder && kids[holder] && place[id] >= SHOW_AT_MOST) { shown = "more:" + holder; }
    }
    repCache[id] = shown;
    return shown;
  }

  function label(n) { return n.label; }
  function runCount(n) { return n + (n === 1 ? " run" : " runs"); }
  function fmtCounts(id) {
    var c = countStatuses(id);
    return Object.keys(c).sort().map(function (s) { return c[s] + " " + s; }).join(", ");
  }
  function box(id) {
    if (id.indexOf("more:") === 0) {
      var holder = id.slice(5);
      return { id: id, kind: "more", title: "… " + (kids[holder].length - SHOW_AT_MOST) + " more runs", meta: "search to find one", width: 190, height: 40 };
    }
    var n = nodes[id], folded = collapsed[id] && kids[id];
    var meta = n.type === "run" ? n.engine + (n.name && n.name !== n.label ? " · " + n.name : "") : n.uid;
    if (folded) { meta = runCount(groupSize(id)) + " ▸ " + fmtCounts(id); }
    var title = label(n), width = Math.max(120, Math.min(300, 7 * Math.max(title.length, meta.length) + 24));
    return { id: id, kind: n.type, title: title, meta: meta, width: width, height: 42 };
  }

  function layout() {
    repCache = {};
    var g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 46, edgesep: 10, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var shown = {};
    order.forEach(function (id) { shown[rep(id)] = true; });
    Object.keys(shown).forEach(function (id) { g.setNode(id, box(id)); });
    Object.keys(shown).forEach(function (id) {  // unfolded groups: a cluster around the run
      if (nodes[id] && kids[id] && !collapsed[id]) { g.setNode("g:" + id, { cluster: id, label: label(nodes[id]) }); }
    });
    Object.keys(shown).forEach(function (id) {  // then each record into its group's cluster
      if (id.indexOf("more:") === 0) { return attach(g, id, id.slice(5)); }
      var n = nodes[id];
      if (kids[id] && !collapsed[id]) {
        attach(g, "g:" + id, n.parent);
        g.setParent(id, "g:" + id);
      } else if (n.type === "run") {
        attach(g, id, n.parent);
      } else if (n.producer && nodes[n.producer] && rep(n.producer) === n.producer) {
        attach(g, id, kids[n.producer] ? n.producer : nodes[n.producer].parent);
      }
    });
    var seen = {};
    data.edges.forEach(function (e) {
      var s = rep(e.source), t = rep(e.target), k = s + "\u0000" + t;
      if (s === t || seen[k]) { if (seen[k]) { seen[k].n += 1; } return; }
      seen[k] = { n: 1 };
      g.setEdge(s, t, seen[k]);
    });
    dagre.layout(g);
    return g;
  }
  function attach(g, child, parent) {
    if (parent && nodes[parent] && !collapsed[parent] && g.hasNode("g:" + parent)) { g.setParent(child, "g:" + parent); }
  }

  var svg = document.createElementNS(SVGNS, "svg"), view = el("g", { "class": "viewport" }, svg);
  svg.setAttribute("id", "tl-svg");
  var defs = el("defs", {}, svg), marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#868e96" }, marker);
  document.getElementById("tl-canvas").appendChild(svg);
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function text(parent, x, y, value, cls) {
    var t = el("text", { x: x, y: y, "class": cls || "" }, parent);
    t.textContent = value.length > 44 ? value.slice(0, 42) + "…" : value;
    return t;
  }

  var graphBox = null, startAt = null;
  function draw() {
    var g = layout();
    while (view.firstChild) { view.removeChild(view.firstChild); }
    g.nodes().forEach(function (id) {
      var v = g.node(id);
      if (!v.cluster) { return; }
      var c = el("g", { "class": "cluster", "data-group": v.cluster }, view);
      el("rect", { x: v.x - v.width / 2, y: v.y - v.height / 2, width: v.width, height: v.height }, c);
      var t = text(c, v.x - v.width / 2 + 8, v.y - v.height / 2 + 13, "▾ " + v.label + " · " + runCount(groupSize(v.cluster)));
      t.style.pointerEvents = "all";
      c.addEventListener("click", function (ev) { ev.stopPropagation(); collapsed[v.cluster] = true; draw(); });
    });
    g.edges().forEach(function (e) {
      var pts = g.edge(e).points, d = "M " + pts[0].x + " " + pts[0].y;
      for (var i = 1; i < pts.length; i++) { d += " L " + pts[i].x + " " + pts[i].y; }
      var p = el("g", { "class": "edge", "data-source": e.v, "data-target": e.w }, view);
      el("path", { d: d, "marker-end": "url(#arrow)" }, p);
      if (g.edge(e).n > 1) { var mid = pts[Math.floor(pts.length / 2)]; text(p, mid.x + 3, mid.y - 3, "×" + g.edge(e).n); }
    });
    g.nodes().forEach(function (id) {
      var v = g.node(id);
      if (v.cluster) { return; }
      var n = nodes[id], cls = "node " + v.kind;
      if (n) { cls += n.type === "run" ? " status-" + n.status : (n.purged ? " purged" : ""); }
      if (id === data.start) { cls += " start"; startAt = { x: v.x, y: v.y }; }
      if (matches[id]) { cls += " match"; }
      if (id === selected) { cls += " selected"; }
      if (n && kids[id]) { cls += collapsed[id] ? " group folded" : " group"; }
      var grp = el("g", { "class": cls, "data-id": id, transform: "translate(" + (v.x - v.width / 2) + "," + (v.y - v.height / 2) + ")" }, view);
      el("rect", { width: v.width, height: v.height, rx: v.kind === "run" ? 14 : 2 }, grp);
      text(grp, 10, 17, v.title);
      text(grp, 10, 33, v.meta, "meta");
      grp.addEventListener("click", function (ev) { ev.stopPropagation(); onNode(id); });
    });
    var gg = g.graph();
    graphBox = { w: gg.width || 100, h: gg.height || 100 };
    var drawn = g.nodes().filter(function (id) { return !g.node(id).cluster; }).length;
    document.getElementById("tl-count").textContent = drawn + " shown of " + order.length + " records";
    if (!window.tlFirstRenderMs) { window.tlFirstRenderMs = performance.now(); }
    document.body.setAttribute("data-rendered", "1");
  }

  function onNode(id) {
    if (id.indexOf("more:") === 0) { showMore(id.slice(5)); return; }
    if (kids[id] && collapsed[id]) { delete collapsed[id]; }
    selected = id;
    draw();
    details(id);
  }

  function row(table, name, value) {
    if (value === null || value === undefined || value === "") { return; }
    var tr = table.insertRow(), a = tr.insertCell(), b = tr.insertCell();
    a.textContent = name;
    b.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  function human(n) {
    if (n === null || n === undefined) { return null; }
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v) + " " + units[i] + (i ? " (" + n + " B)" : "");
  }
  function details(id) {
    var n = nodes[id], panel = document.getElementById("tl-panel");
    panel.innerHTML = "";
    var h = document.createElement("h2");
    h.textContent = (n.type === "run" ? "Run " : "Artifact ") + n.label;
    panel.appendChild(h);
    var table = document.createElement("table");
    table.id = "tl-details";
    panel.appendChild(table);
    row(table, "uid", n.uid);
    if (n.type === "artifact") {
      row(table, "key", n.key); row(table, "version", n.version); row(table, "hash", n.hash);
      row(table, "size", human(n.size)); row(table, "kind", n.kind); row(table, "path", n.path);
      row(table, "storage", n.storage); row(table, "in place", n.in_place ? "yes" : null);
      row(table, "files", n.n_files); row(table, "observations", n.n_observations);
      row(table, "visibility", n.visibility !== "main" ? n.visibility : null);
      row(table, "purged at", n.purged_at);
      row(table, "created", n.created_at); row(table, "description", n.description);
      row(table, "made by", n.producer && nodes[n.producer] ? nodes[n.producer].label + " " + nodes[n.producer].uid : null);
    } else {
      var t = transforms[n.transform] || {};
      row(table, "status", n.status); row(table, "engine", n.engine); row(table, "name", n.name);
      row(table, "transform", t.key ? t.key + " v" + t.version + " (" + t.kind + ")" : null);
      row(table, "started", n.started_at); row(table, "finished", n.finished_at);
      row(table, "reference", n.reference); row(table, "host", n.hostname); row(table, "git", n.git);
      row(table, "parent", n.parent && nodes[n.parent] ? nodes[n.parent].label + " " + nodes[n.parent].uid : null);
      if (kids[id]) { row(table, "child runs", kids[id].length + " (" + fmtCounts(id) + ")"); }
      row(table, "params", n.params);
    }
    Object.keys(n.features || {}).forEach(function (f) { row(table, "feature " + f, n.features[f]); });
    if (n.labels && n.labels.length) { row(table, "labels", n.labels.join(", ")); }
    if (n.error) { var e = document.createElement("pre"); e.className = "error"; e.textContent = n.error; panel.appendChild(e); }
    var src = n.type === "run" && transforms[n.transform] ? transforms[n.transform].source : null;
    if (src) {
      var s = document.createElement("details"), sum = document.createElement("summary"), pre = document.createElement("pre");
      sum.textContent = "transform source"; pre.textContent = src;
      s.appendChild(sum); s.appendChild(pre); panel.appendChild(s);
    }
  }
  function showMore(holder) {
    var panel = document.getElementById("tl-panel");
    panel.innerHTML = "<h2></h2><p class='hint'>Only the first " + SHOW_AT_MOST + " child runs are drawn. Search by name, key, uid or feature value to find one.</p>";
    panel.firstChild.textContent = nodes[holder].label + ": " + kids[holder].length + " child runs";
  }

  function search(query) {
    matches = {};
    var q = query.trim().toLowerCase(), found = [];
    if (q) {
      order.forEach(function (id) {
        var n = nodes[id], hay = [n.uid, n.key, n.label, n.name, n.path];
        Object.keys(n.features || {}).forEach(function (f) { hay.push(String(n.features[f])); });
        (n.labels || []).forEach(function (l) { hay.push(l); });
        if (hay.some(function (h) { return h && String(h).toLowerCase().indexOf(q) >= 0; })) { found.push(id); }
      });
    }
    found.slice(0, 200).forEach(function (id) { matches[id] = true; reveal(id); });
    draw();
    var panel = document.getElementById("tl-panel");
    panel.innerHTML = "";
    var h = document.createElement("h2");
    h.textContent = q ? found.length + " found for \u201c" + query + "\u201d" : "Search cleared";
    panel.appendChild(h);
    var list = document.createElement("ul");
    list.id = "tl-results";
    found.slice(0, 200).forEach(function (id) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.textContent = nodes[id].label + " (" + nodes[id].uid + ")";
      a.addEventListener("click", function () { onNode(id); });
      li.appendChild(a); list.appendChild(li);
    });
    panel.appendChild(list);
  }

  // pan and zoom
  var tx = 0, ty = 0, scale = 1, drag = null, canvas = document.getElementById("tl-canvas");
  function apply() { view.setAttribute("transform", "translate(" + tx + "," + ty + ") scale(" + scale + ")"); }
  function fit() {
    var w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
    scale = Math.min(1.5, Math.min(w / graphBox.w, h / graphBox.h) * 0.95);
    tx = (w - graphBox.w * scale) / 2; ty = (h - graphBox.h * scale) / 2;
    apply();
  }
  // the first view: the whole graph if its text stays readable, else the starting record
  // at a readable size with as much of the graph around it as fits
  var READABLE = 0.5;
  function firstView() {
    fit();
    if (scale >= READABLE || !startAt) { return; }
    var w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
    scale = READABLE;
    tx = Math.min(0, Math.max(w - graphBox.w * scale, w / 2 - startAt.x * scale));
    ty = graphBox.h * scale <= h ? (h - graphBox.h * scale) / 2
      : Math.min(0, Math.max(h - graphBox.h * scale, h / 2 - startAt.y * scale));
    apply();
  }
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var k = ev.deltaY < 0 ? 1.15 : 1 / 1.15, r = canvas.getBoundingClientRect();
    var x = ev.clientX - r.left, y = ev.clientY - r.top;
    tx = x - (x - tx) * k; ty = y - (y - ty) * k; scale *= k;
    apply();
  }, { passive: false });
  canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX - tx, y: ev.clientY - ty }; });
  window.addEventListener("mousemove", function (ev) { if (drag) { tx = ev.clientX - drag.x; ty = ev.clientY - drag.y; apply(); } });
  window.addEventListener("mouseup", function () { drag = null; });

  var box_ = document.getElementById("tl-search"), timer = null;
  box_.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { search(box_.value); }, 200); });
  box_.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { clearTimeout(timer); search(box_.value); } });
  document.getElementById("tl-fit").addEventListener("click", fit);
  document.getElementById("tl-fold").addEventListener("click", function () {
    Object.keys(kids).forEach(function (g) { collapsed[g] = true; }); reveal(data.start); draw(); fit();
  });
  draw();
  firstView();
  details(data.start);
})();
