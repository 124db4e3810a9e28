"""Lineage: walks over the records and the views drawn from them.

``upstream``/``downstream`` (and ``walk`` for either or both) list what a record derives
from or leads to, to any depth. ``graph`` adds the edges, parent-run groups and each
record's details; ``mermaid``, ``dot``, ``html`` (a self-contained page) and ``view`` (a
notebook object whose ``str()`` is the Mermaid text) draw it.
"""

from ..models import Artifact, Run
from ._graph import Graph, artifact_name, graph
from ._html import html_page
from ._html import write_html as html
from ._text import dot_of, mermaid, mermaid_label, mermaid_of, render
from ._view import LineageView, view
from ._walk import DIRECTIONS, Lineage, downstream, upstream, walk


def dot(record: Artifact | Run, direction: str = "upstream", depth: int | None = None) -> str:
    """The lineage of ``record`` in Graphviz's dot language."""
    return dot_of(graph(record, direction, depth, details=False))


__all__ = [
    "DIRECTIONS",
    "Graph",
    "Lineage",
    "LineageView",
    "artifact_name",
    "dot",
    "downstream",
    "graph",
    "html",
    "html_page",
    "mermaid",
    "mermaid_label",
    "mermaid_of",
    "render",
    "upstream",
    "view",
    "walk",
]
