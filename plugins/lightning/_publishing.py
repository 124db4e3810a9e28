"""What the checkpoint callback tells about its artifacts: the last one of each kind, the
subclass hooks, and the observers (see ``_events``)."""

from pathlib import Path
from typing import Any

from threadline import adapters

from ._events import ArtifactKind, ArtifactRemovedEvent, ArtifactSavedEvent, notify


class ArtifactPublisher:
    """The publishing half of ``Checkpoint``: it keeps the last artifact of each kind and
    the last event, and tells the subclass hook, then each observer, about every artifact
    saved or removed. A failing hook or observer is logged by ``_guard``, never raised
    into training."""

    _last: dict[str, Any]
    _last_event: ArtifactSavedEvent | ArtifactRemovedEvent | None
    _observers: list[Any]
    _guard: adapters.Guard

    @property
    def last_checkpoint_artifact(self) -> Any:
        return self._last.get("checkpoint")

    @property
    def last_config_artifact(self) -> Any:
        return self._last.get("config")

    @property
    def last_hparams_artifact(self) -> Any:
        return self._last.get("hparams")

    @property
    def last_artifact_event(self) -> ArtifactSavedEvent | ArtifactRemovedEvent | None:
        return self._last_event

    def get_last_artifact(self, kind: ArtifactKind) -> Any:
        """The artifact last saved of this kind (``checkpoint``, ``config``, ``hparams``)."""
        return self._last.get(kind)

    # -- observers and hooks -----------------------------------------------------------
    def add_artifact_observer(self, observer: Any) -> None:
        if observer not in self._observers:
            self._observers.append(observer)

    def remove_artifact_observer(self, observer: Any) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def on_artifact_saved(self, event: ArtifactSavedEvent) -> None:
        """Subclass hook: runs after an artifact is saved, before the observers."""

    def on_artifact_removed(self, event: ArtifactRemovedEvent) -> None:
        """Subclass hook: runs after a checkpoint is removed, before the observers."""

    def _emit(self, event: ArtifactSavedEvent | ArtifactRemovedEvent) -> None:
        self._last_event = event
        hook = (
            self.on_artifact_saved
            if isinstance(event, ArtifactSavedEvent)
            else self.on_artifact_removed
        )
        with self._guard(f"{type(self).__name__}.{hook.__name__}"):
            hook(event)  # type: ignore[arg-type]
        notify(self._observers, event, self._guard)

    # -- storage ----------------------------------------------------------------------
    def resolve_artifact_storage_uri(self, artifact: Any) -> str:
        """Where the artifact's object lives (what registries such as MLflow record)."""
        return str(artifact.uri)

    def _saved(self, kind: ArtifactKind, trainer: Any, path: str, artifact: Any) -> None:
        self._last[kind] = artifact
        self._emit(
            ArtifactSavedEvent(
                kind=kind,
                key=artifact.key,
                local_path=Path(path),
                trainer=trainer,
                artifact=artifact,
                storage_uri=self.resolve_artifact_storage_uri(artifact),
            )
        )
