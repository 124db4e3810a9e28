"""threadline: where your data and models come from.

``import threadline as tl`` is cheap: the database layer, storage and everything heavy
load on first use of a name below (module ``__getattr__``), and the instance opens on
first use of the database.
"""

from typing import TYPE_CHECKING, Any

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

_LAZY = {
    "Artifact": "threadline.models",
    "Collection": "threadline.models",
    "Feature": "threadline.models",
    "Label": "threadline.models",
    "Project": "threadline.models",
    "Run": "threadline.models",
    "Schema": "threadline.models",
    "Storage": "threadline.models",
    "Transform": "threadline.models",
    "connect": "threadline._instance",
    "disconnect": "threadline._instance",
    "init": "threadline._instance",
    "context": "threadline.tracking",
    "finish": "threadline.tracking",
    "flow": "threadline.tracking",
    "step": "threadline.tracking",
    "track": "threadline.tracking",
    "register_loader": "threadline._loaders",
    "save": "threadline.models._bulk:save_artifacts",
    "instance": "threadline._context",
    "validate": "threadline.models._validation",
}
_MODULES = ("adapters", "errors", "export", "lineage", "maintenance")

if TYPE_CHECKING:
    from . import adapters, errors, export, lineage, maintenance
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
    from .models._bulk import save_artifacts as save
    from .models._validation import validate
    from .tracking import context, finish, flow, step, track


def __getattr__(name: str) -> Any:
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"threadline.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'threadline' has no attribute {name!r}")
    module_name, _, attr = _LAZY[name].partition(":")
    module = importlib.import_module(module_name)
    importlib.import_module("threadline._instance")  # registers the lazy connector
    value = getattr(module, attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
