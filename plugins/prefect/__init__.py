"""threadline.prefect: record Prefect flow and task runs as threadline runs.

``from threadline.prefect import flow, task`` gives Prefect's decorators with
threadline's state hooks added; ``instrument(obj)`` adds them to flows and tasks
decorated elsewhere. Importing this package does not import Prefect: the names load on
first use. See docs/prefect.md; ``CONTENT``, a cache policy keyed by content: docs/caching.md;
``SERVER_SETTINGS``, the settings of a Prefect server on a small machine.
"""

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "CONTENT",
    "SERVER_SETTINGS",
    "ContentPolicy",
    "TrackOptions",
    "TrackedFlow",
    "TrackedMaterializingTask",
    "TrackedTask",
    "flow",
    "instrument",
    "task",
]

_LAZY = {
    "CONTENT": "threadline.prefect._cache",
    "ContentPolicy": "threadline.prefect._cache",
    "SERVER_SETTINGS": "threadline.prefect._server",
    "TrackOptions": "threadline.prefect._options",
    "TrackedFlow": "threadline.prefect._decorators",
    "TrackedMaterializingTask": "threadline.prefect._decorators",
    "TrackedTask": "threadline.prefect._decorators",
    "flow": "threadline.prefect._decorators",
    "instrument": "threadline.prefect._decorators",
    "task": "threadline.prefect._decorators",
}

if TYPE_CHECKING:
    from ._cache import CONTENT, ContentPolicy
    from ._decorators import (
        TrackedFlow,
        TrackedMaterializingTask,
        TrackedTask,
        flow,
        instrument,
        task,
    )
    from ._options import TrackOptions
    from ._server import SERVER_SETTINGS


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'threadline.prefect' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
