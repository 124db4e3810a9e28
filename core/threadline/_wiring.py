"""The public names and the layers above the tables, loaded together on first use.

``threadline/__init__.py`` keeps ``import threadline`` cheap and loads this module the
first time a public name (``tl.Artifact``...) is used, or the tables need a layer above
them (``_context.layers()``): the instance layer (importing it registers the connector
that opens the default instance), the save pipeline, validation and the lineage view.
The tables never import these layers; this module, at the top, imports them all.
"""

from . import _instance, adapters, caching, errors, export, lineage, maintenance
from ._context import instance
from ._instance import connect, disconnect, init
from ._loaders import register_loader
from .models import (
    Artifact,
    Collection,
    Feature,
    Label,
    Project,
    Run,
    Schema,
    Storage,
    Transform,
)
from .saving import save_artifacts
from .saving import save_artifacts as save
from .tracking import context, finish, flow, step, track
from .validation import validate

__all__ = [
    "Artifact",
    "Collection",
    "Feature",
    "Label",
    "Project",
    "Run",
    "Schema",
    "Storage",
    "Transform",
    "_instance",
    "adapters",
    "caching",
    "connect",
    "context",
    "disconnect",
    "errors",
    "export",
    "finish",
    "flow",
    "init",
    "instance",
    "lineage",
    "maintenance",
    "register_loader",
    "save",
    "save_artifacts",
    "step",
    "track",
    "validate",
    "view_lineage",
]


def view_lineage(record: Artifact, direction: str) -> lineage.LineageView:
    """``Artifact.view_lineage()``: ``tl.lineage.view`` (HTML in notebooks, Mermaid as text)."""
    return lineage.view(record, direction)
