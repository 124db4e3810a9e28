"""A lineage view for notebooks: Jupyter renders the HTML view inline, ``str()`` is the
Mermaid text (for Markdown cells, GitHub and GitLab)."""

import html
from dataclasses import dataclass, field

from ..models import Artifact, Run
from ._graph import Graph, graph
from ._html import page, title_of
from ._text import mermaid_of


@dataclass
class LineageView:
    """The lineage of one record, drawn on demand from one walk."""

    graph: Graph
    title: str
    height: int = field(default=520)

    def __str__(self) -> str:
        return mermaid_of(self.graph)

    def __repr__(self) -> str:
        return f"LineageView({self.title!r}, {len(self.graph.nodes)} records)"

    def to_html(self) -> str:
        """The self-contained HTML page (what ``threadline view`` writes)."""
        return page(self.graph, self.title)

    def _repr_html_(self) -> str:
        # an iframe keeps the page's script and styles apart from the notebook's
        document = html.escape(self.to_html(), quote=True)
        return (
            f'<iframe srcdoc="{document}" style="width:100%;height:{self.height}px;'
            f'border:1px solid #dee2e6" sandbox="allow-scripts"></iframe>'
        )

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self}\n```"


def view(
    record: Artifact | Run, direction: str = "upstream", depth: int | None = None
) -> LineageView:
    """The lineage of ``record`` as a :class:`LineageView`."""
    return LineageView(graph(record, direction, depth), title_of(record))
