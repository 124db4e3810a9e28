"""Artifact events: what the checkpoint callback tells subclasses and observers.

After an artifact is persisted the callback builds an ``ArtifactSavedEvent``; after
Lightning removes a checkpoint file (``save_top_k`` eviction) an ``ArtifactRemovedEvent``.
The subclass hook (``on_artifact_saved`` / ``on_artifact_removed``) runs first, then each
observer. An observer is any object with either method; a missing method is skipped, and
an observer that raises is logged and never stops training.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from threadline import adapters

ArtifactKind = Literal["checkpoint", "config", "hparams"]


@dataclass(frozen=True)
class ArtifactEvent:
    """Fields shared by both events: which artifact, under which key, from which file."""

    kind: ArtifactKind
    key: str
    local_path: Path
    trainer: Any


@dataclass(frozen=True)
class ArtifactSavedEvent(ArtifactEvent):
    """An artifact was persisted; ``storage_uri`` is where its object lives for good."""

    artifact: Any
    storage_uri: str


@dataclass(frozen=True)
class ArtifactRemovedEvent(ArtifactEvent):
    """Lightning removed a checkpoint file; its artifact (if any) went to the trash."""

    artifact: Any = None
    storage_uri: str | None = None


class ArtifactObserver(Protocol):
    """What an observer may implement (for type checkers); either method alone is enough,
    so observers are found by their methods, not by ``isinstance``."""

    def on_artifact_saved(self, event: ArtifactSavedEvent) -> None: ...

    def on_artifact_removed(self, event: ArtifactRemovedEvent) -> None: ...


def notify(observers: list[Any], event: ArtifactEvent, guard: adapters.Guard) -> None:
    """Call each observer's method for ``event``, each failure logged on its own."""
    name = "on_artifact_saved" if isinstance(event, ArtifactSavedEvent) else "on_artifact_removed"
    for observer in list(observers):
        method = getattr(observer, name, None)
        if method is None:
            continue
        with guard(f"{type(observer).__name__}.{name}"):
            method(event)
