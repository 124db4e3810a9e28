"""threadline: where your data and models come from.

``import threadline as tl`` is cheap: the database layer, storage and everything heavy
load on first use of a name below (module ``__getattr__`` loads ``threadline._wiring``),
and the instance opens on first use of the database.
"""

from typing import TYPE_CHECKING, Any

from . import _context, errors

__version__ = "0.1.0"

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
    "step",
    "track",
    "validate",
]

if TYPE_CHECKING:
    from . import adapters, caching, export, lineage, maintenance
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
    from .saving import save_artifacts as save
    from .tracking import context, finish, flow, step, track
    from .validation import validate


def _load_layers() -> _context.Layers:
    """The public names and the layers above the tables, loaded together on first use."""
    from . import _wiring

    return _wiring


_context.register_layers(_load_layers)


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'threadline' has no attribute {name!r}")
    value = getattr(_context.layers(), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
