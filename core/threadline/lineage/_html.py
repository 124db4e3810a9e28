"""The lineage graph as one self-contained HTML page.

Everything is inline: the styles, the layout library (dagre, vendored in ``assets/``), the
view's script and the graph as JSON. Opened from a ``file://`` URL it fetches nothing.
"""

import html
import json
from functools import cache
from importlib.resources import files
from pathlib import Path

from ..models import Artifact, Run
from ._graph import Graph, artifact_name, direction_words, graph

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="threadline">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1><span class="sub">{subtitle}</span>
<input id="tl-search" type="search" placeholder="Search key, uid, feature value"
 aria-label="search">
<button id="tl-fit" type="button">Fit</button>
<button id="tl-fold" type="button">Fold groups</button>
<span id="tl-count" class="sub"></span>
<span class="legend"><span><i style="border-color:#495057"></i>artifact</span>{legend}</span>
</header>
<main id="tl-canvas"></main>
<aside id="tl-panel"><p class="hint">Click a record for its details.</p></aside>
<script id="tl-data" type="application/json">{data}</script>
<script>{dagre}</script>
<script>{script}</script>
</body>
</html>
"""
_STATUSES = {
    "completed": "#2b8a3e",
    "errored": "#c92a2a",
    "aborted": "#e67700",
    "started": "#1864ab",
    "scheduled": "#868e96",
    "cached": "#5f3dc4",
    "skipped": "#e67700",
    "rolled_back": "#a61e4d",
}


@cache
def _asset(name: str) -> str:
    return files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def page(g: Graph, title: str) -> str:
    """The HTML text of the view of ``g``."""
    start = next(n for n in g.nodes if n["id"] == g.start)
    legend = "".join(
        f'<span><i class="run" style="border-color:{c}"></i>{s}</span>'
        for s, c in _STATUSES.items()
    )
    data = g.to_dict()
    data["nodes"] = [{k: v for k, v in n.items() if v is not None} for n in g.nodes]
    payload = json.dumps(data, separators=(",", ":"), default=str)
    # nothing in the data may close the script element or open a comment
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(f"{direction_words(g.direction)} of {start['type']} {start['uid']}"),
        css=_asset("view.css"),
        legend=legend,
        data=payload,
        dagre=_asset("dagre.min.js"),
        script=_asset("view.js"),
    )


def title_of(record: Artifact | Run) -> str:
    if isinstance(record, Artifact):
        return f"Lineage of {artifact_name(record)} v{record.version}"
    return f"Lineage of run {record.transform.key} ({record.uid})"


def html_page(record: Artifact | Run, direction: str = "upstream", depth: int | None = None) -> str:
    """The HTML view of ``record``'s lineage, as text."""
    return page(graph(record, direction, depth), title_of(record))


def write_html(
    record: Artifact | Run,
    path: str | Path = "lineage.html",
    direction: str = "upstream",
    depth: int | None = None,
) -> Path:
    """Write the HTML view of ``record``'s lineage to ``path``; returns the path."""
    target = Path(path)
    target.write_text(html_page(record, direction, depth), encoding="utf-8")
    return target
