"""threadline.lightning: every Lightning checkpoint becomes a threadline artifact.

``Checkpoint`` is a drop-in ``ModelCheckpoint``: inside a threadline run (``tl.track()``,
``@tl.flow``, an adapter's run) its checkpoints are the run's outputs, keyed by dirpath or
logger and the run uid, annotated with best/last/rank and the trainer's settings;
the ``LightningCLI`` config (written by Lightning's own ``SaveConfigCallback``) becomes an
input of the run, and a fit resumed with ``ckpt_path=`` takes over the earlier fit's files;
``save_lightning_features()`` creates the auto-features once. Importing this package does
not import torch or Lightning: the names load on first use. See docs/lightning.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ArtifactObserver",
    "ArtifactRemovedEvent",
    "ArtifactSavedEvent",
    "Checkpoint",
    "SaveConfigCallback",
    "save_lightning_features",
]

_LAZY = {
    "ArtifactObserver": "._events",
    "ArtifactRemovedEvent": "._events",
    "ArtifactSavedEvent": "._events",
    "Checkpoint": "._checkpoint",
    "SaveConfigCallback": "._cli",
    "save_lightning_features": "._features",
}

if TYPE_CHECKING:
    from ._checkpoint import Checkpoint
    from ._cli import SaveConfigCallback
    from ._events import ArtifactObserver, ArtifactRemovedEvent, ArtifactSavedEvent
    from ._features import save_lightning_features


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'threadline.lightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
