"""threadline: where your data and models come from.

``import threadline as tl`` is cheap: the database layer, storage and everything heavy
load on first use of a name below (module ``__getattr__`` imports the module that defines
it), and the instance opens on first use of the database.
"""

from __future__ import annotations

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

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

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


_TRACKING = frozenset(("context", "finish", "flow", "step", "track"))


def _home(name: str) -> Any:
    """The module that defines the public ``name``, imported on first use (only names
    that are not public attributes here may be imported as ``from . import x``)."""
    if name[0].isupper():  # the public classes are the tables (``__all__`` names them)
        from . import models

        return models
    if name in ("connect", "disconnect", "init"):
        from . import _instance

        return _instance
    if name in _TRACKING:
        from . import tracking

        return tracking
    if name in ("save", "validate", "register_loader"):
        from . import _functions

        return _functions
    if name == "instance":
        return _context
    from . import _modules  # the public modules: adapters, caching, export, lineage...

    return _modules


def _load_layers() -> _context.Layers:
    """The layers above the tables, which the tables reach through ``_context``."""
    from . import _wiring

    return _wiring


def _open_default() -> None:
    """The first use of the database opens the instance that settings resolve to."""
    from . import _instance

    _instance._connect_default()


_context.register_layers(_load_layers)
_context.register_connector(_open_default)


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'threadline' has no attribute {name!r}")
    value = getattr(_home(name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
