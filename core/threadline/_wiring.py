"""The layers above the tables, as the tables reach them (``_context.layers()``).

The tables never import the save pipeline, validation or the lineage view (each of them
imports the tables); ``threadline/__init__.py`` registers this module with ``_context``
and it is imported the first time a table needs one of them.
"""

from ._gc import delete_now
from .lineage import LineageView, view
from .models import Artifact
from .saving import save_artifacts
from .validation import validate

__all__ = ["delete_now", "save_artifacts", "validate", "view_lineage"]


def view_lineage(record: Artifact, direction: str) -> LineageView:
    """``Artifact.view_lineage()``: ``tl.lineage.view`` (HTML in notebooks, Mermaid as text).

    (``from .lineage import ...``, not ``from . import lineage``: the latter asks the
    package root for its public attribute ``lineage``, which loads every public module.)"""
    return view(record, direction)
