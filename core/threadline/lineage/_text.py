"""Lineage as text: a plain listing for the terminal, a Mermaid flowchart, a Graphviz dot.

Mermaid and dot carry the same nodes and edges as the JSON and the HTML view: artifacts
as boxes, runs as rounded shapes coloured by status, parent runs as groups around their
child runs.
"""

from ..models import Artifact, Run
from ._graph import Graph, direction_words, graph
from ._walk import walk

STATUS_COLOURS = {
    "completed": ("#d3f9d8", "#2b8a3e"),
    "errored": ("#ffe3e3", "#c92a2a"),
    "aborted": ("#fff3bf", "#e67700"),
    "started": ("#d0ebff", "#1864ab"),
    "scheduled": ("#f1f3f5", "#868e96"),
    "cached": ("#e5dbff", "#5f3dc4"),
    "skipped": ("#f8f9fa", "#e67700"),
    "rolled_back": ("#fff0f6", "#a61e4d"),
}


def render(record: Artifact | Run, direction: str = "upstream", depth: int | None = None) -> str:
    """A text listing of a walk, for the CLI and notebooks."""
    found = walk(record, direction, depth)
    name = record.key if isinstance(record, Artifact) else record.transform.key
    lines = [f"{direction_words(direction)} of {type(record).__name__} {name or record.uid}"]
    for run in found.runs:  # a run's name tells apart runs of one transform (tasks, jobs)
        named = f" {run.name!r}" if run.name and run.name != run.transform.key else ""
        kind, key = run.transform.kind, run.transform.key
        lines.append(f"  run {run.uid}  {kind} {key}{named} ({run.status})")
    for art in found.artifacts:
        state = "  (purged)" if art.visibility == "purged" else ""
        lines.append(f"  artifact {art.uid}  {art.key or '(no key)'} v{art.version}{state}")
    return "\n".join(lines)


def mermaid_label(text: str) -> str:
    """Text safe inside a quoted Mermaid label: Mermaid reads ``#name;`` as an entity and
    the label as HTML, so ``#``, ``&``, quotes and angle brackets become entity codes."""
    for char, code in (("#", "#35;"), ("&", "#38;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def mermaid(record: Artifact | Run, direction: str = "upstream", depth: int | None = None) -> str:
    """The walk as a Mermaid flowchart (GitHub, GitLab and Jupyter render it)."""
    return mermaid_of(graph(record, direction, depth, details=False))


def mermaid_of(g: Graph) -> str:
    lines = ["flowchart LR"]
    children: dict[str | None, list[str]] = {}
    for node in g.nodes:
        children.setdefault(node.get("parent"), []).append(node["id"])
    by_id = {node["id"]: node for node in g.nodes}

    def emit(node_id: str, indent: str) -> None:
        node = by_id[node_id]
        label = mermaid_label(node["label"])
        if node_id in children:
            lines.append(f'{indent}subgraph {node_id}["{label}"]')
            for child in children[node_id]:
                emit(child, indent + "  ")
            lines.append(f"{indent}end")
        elif node["type"] == "artifact":
            lines.append(f'{indent}{node_id}["{label}"]')
        else:
            lines.append(f'{indent}{node_id}(["{label}"])')

    for node_id in children.get(None, []):
        emit(node_id, "  ")
    lines += [f"  {e['source']} --> {e['target']}" for e in g.edges]
    lines.append("  classDef artifact fill:#ffffff,stroke:#495057")
    lines += [f"  classDef {s} fill:{f},stroke:{c}" for s, (f, c) in STATUS_COLOURS.items()]
    lines.append("  classDef start stroke-width:3px")
    arts = [n["id"] for n in g.nodes if n["type"] == "artifact"]
    if arts:
        lines.append(f"  class {','.join(arts)} artifact")
    purged = [n["id"] for n in g.nodes if n.get("purged")]
    if purged:  # a tombstone: dashed and grey
        lines.append("  classDef purged fill:#f1f3f5,stroke:#868e96,stroke-dasharray:4 3")
        lines.append(f"  class {','.join(purged)} purged")
    for status in STATUS_COLOURS:
        ids = [n["id"] for n in g.nodes if n.get("status") == status]
        if ids:
            lines.append(f"  class {','.join(ids)} {status}")
    lines.append(f"  class {g.start} start")
    return "\n".join(lines)


def dot_of(g: Graph) -> str:
    """The graph in Graphviz's dot language; parent runs as clusters."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    children: dict[str | None, list[str]] = {}
    for node in g.nodes:
        children.setdefault(node.get("parent"), []).append(node["id"])
    by_id = {node["id"]: node for node in g.nodes}

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def emit(node_id: str, indent: str) -> None:
        node = by_id[node_id]
        fill, line = STATUS_COLOURS.get(node.get("status") or "", ("#ffffff", "#495057"))
        style = "filled" if node["type"] == "artifact" else "rounded,filled"
        width = 3 if node_id == g.start else 1
        lines.append(
            f"{indent}{node_id} [label={quote(node['label'])}, shape=box, style={quote(style)}, "
            f"fillcolor={quote(fill)}, color={quote(line)}, penwidth={width}];"
        )

    def group(node_id: str, indent: str) -> None:
        if node_id not in children:
            emit(node_id, indent)
            return
        lines.append(f"{indent}subgraph cluster_{node_id} {{")
        lines.append(f"{indent}  label={quote(by_id[node_id]['label'])};")
        emit(node_id, indent + "  ")  # the parent run itself, where its edges attach
        for child in children[node_id]:
            group(child, indent + "  ")
        lines.append(f"{indent}}}")

    for node_id in children.get(None, []):
        group(node_id, "  ")
    lines += [f"  {e['source']} -> {e['target']};" for e in g.edges]
    lines.append("}")
    return "\n".join(lines)
