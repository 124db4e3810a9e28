"""``Checkpoint``: Lightning's ``ModelCheckpoint`` that makes every checkpoint an artifact.

Lightning writes the file as usual (on every rank); on global rank zero the callback then
saves it as an artifact of kind ``model`` under a logical key (see ``_keys``), output of
the active threadline run, annotates it (see ``_features``), moves the best/last/rank flags
(see ``_ledger``) and tells subclasses and observers (see ``_events``). A file saved again
under the same key becomes the next version of that key; a checkpoint Lightning evicts
goes to the trash, restorable until ``threadline gc``.
"""

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import threadline as tl
import threadline.mlflow
from threadline import adapters

from lightning.pytorch.callbacks import ModelCheckpoint

from . import _config, _features, _keys, _resume
from ._events import ArtifactKind, ArtifactRemovedEvent, ArtifactSavedEvent
from ._ledger import Entry, Ledger
from ._publishing import ArtifactPublisher

log = logging.getLogger("threadline.lightning")
CHECKPOINT_DESCRIPTION = "Lightning checkpoint"
HPARAMS_DESCRIPTION = "Lightning run hyperparameters"
CONFIG_DESCRIPTION = "Lightning CLI config"


class Checkpoint(ArtifactPublisher, ModelCheckpoint):
    """A ``ModelCheckpoint`` whose files become threadline artifacts (see the module doc).

    Every ``ModelCheckpoint`` argument passes through. ``features`` is
    ``{"run": {...}, "artifact": {...}}`` of existing features (an artifact value of
    ``None`` is read at save time from the trainer or its logged metrics).
    ``run_uid_is_version`` puts the run uid into keys; ``artifact_observers`` are told
    about saved and removed artifacts; ``keep_versions=False`` deletes the previous version
    of a key saved again instead of keeping it.
    """

    def __init__(
        self,
        dirpath: str | Path | None = None,
        *,
        filename: str | None = None,
        features: dict[str, dict[str, Any]] | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | Literal["link"] | None = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
        run_uid_is_version: bool = True,
        artifact_observers: list[Any] | None = None,
        keep_versions: bool = True,
    ) -> None:
        self._user_features = _features.UserFeatures.parse(features)
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            verbose=verbose,
            save_last=save_last,
            save_top_k=save_top_k,
            save_on_exception=save_on_exception,
            save_weights_only=save_weights_only,
            mode=mode,
            auto_insert_metric_name=auto_insert_metric_name,
            every_n_train_steps=every_n_train_steps,
            train_time_interval=train_time_interval,
            every_n_epochs=every_n_epochs,
            save_on_train_epoch_end=save_on_train_epoch_end,
            enable_version_counter=enable_version_counter,
        )
        self._given_dirpath = os.fspath(dirpath) if dirpath is not None else None
        self.run_uid_is_version = run_uid_is_version
        self.keep_versions = keep_versions
        self._observers: list[Any] = list(artifact_observers or [])
        self._run: Any = None
        self._base: str | None = None
        self._existing: set[str] = set()
        self._ledger = Ledger()
        self._last: dict[str, Any] = {}
        self._last_event: ArtifactSavedEvent | ArtifactRemovedEvent | None = None
        self._run_values_written = False
        self._hparams_saved = self._config_recorded = self._restored = False
        self._restored_state: dict[str, Any] = {}
        self._saving: str | None = None
        self._warned_no_run = False
        self._guard = adapters.Guard("lightning", host="training")  # each place once

    # -- set-up ------------------------------------------------------------------------
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._restored, self._restored_state = False, {}
        cli = _config.find(trainer)  # LightningCLI's SaveConfigCallback: it ran before
        config_path = _config.local_path(trainer, cli)  # on every rank: log_dir broadcasts
        if trainer.is_global_zero:
            self._resolve(trainer, pl_module)
            if cli is not None and not self._config_recorded:
                self._config_recorded = True
                with self._guard("the CLI config artifact"):
                    _config.record(self, trainer, cli, config_path)
        self._base = trainer.strategy.broadcast(self._base)

    def _resolve(self, trainer: Any, pl_module: Any) -> None:
        """Find the run, the base prefix and the existing features (rank zero only)."""
        run = tl.context.run
        if self._base is not None and getattr(run, "id", None) != getattr(self._run, "id", None):
            self._start_over()  # the same callback in a new run: nothing carries over
        self._run = run
        self._base = _keys.base_prefix(
            trainer,
            self._given_dirpath,
            self._run.uid if self._run else None,
            self.run_uid_is_version,
        )
        try:
            self._existing = _features.discover(trainer, pl_module, self._user_features)
        except ValueError:
            raise  # unknown feature names: the user's configuration, not a failure
        except Exception:
            self._existing = set()
            with self._guard("feature discovery"):  # logs it (raises when strict)
                raise
        if self._run is None and not self._warned_no_run:
            self._warned_no_run = True
            log.warning(
                "threadline: no active run; checkpoints are saved under %r without "
                "a run (call tl.track() or use @tl.flow to record one)",
                self.checkpoint_key_prefix,
            )
        if self.save_last is True:
            log.warning(
                "threadline: save_last=True is redundant: the latest checkpoint is "
                "queryable as is_last_model=True"
            )
        if self._run is not None:
            with self._guard("run features"):
                if self._user_features.run:
                    adapters.annotate(self._run, self._user_features.run)
            with self._guard("MLflow linkage"):
                threadline.mlflow.link_trainer(trainer, self._run)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **_resume.saved_keys(self, self._saving)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)  # Lightning restores top-k/last: same dirpath
        self._restored = state_dict.get("dirpath", self.dirpath) == self.dirpath
        self._restored_state = state_dict

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """A fit resumed from a checkpoint (``ckpt_path=``): see ``_resume``."""
        super().on_fit_start(trainer, pl_module)
        path = getattr(trainer, "ckpt_path", None)
        if trainer.is_global_zero and path and os.path.isfile(path):
            with self._guard("resuming from a checkpoint"):
                _resume.resume(self, trainer, os.fspath(path), self._restored)

    def _start_over(self) -> None:
        self._ledger = Ledger()
        self._run_values_written = self._hparams_saved = self._config_recorded = False

    def _ensure(self, trainer: Any) -> None:
        if self._base is None:
            self._resolve(trainer, trainer.lightning_module)

    # -- public state ------------------------------------------------------------------
    @property
    def base_prefix(self) -> str:
        return self._base or ""

    @property
    def checkpoint_key_prefix(self) -> str:
        return _keys.join(self.base_prefix, "checkpoints")

    # -- keys and storage --------------------------------------------------------------
    def resolve_artifact_key(
        self, trainer: Any, filepath: str | os.PathLike[str], kind: ArtifactKind
    ) -> str:
        """The key for a file: config under the base prefix, the rest under checkpoints."""
        name = os.path.basename(os.fspath(filepath))
        if kind == "config":
            return _keys.join(self.base_prefix, name)
        return _keys.join(self.checkpoint_key_prefix, name)

    # -- Lightning's save and remove ---------------------------------------------------
    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        self._saving = filepath  # its key goes into the file (see ``state_dict``)
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            self._saving = None
        if trainer.is_global_zero:
            with self._guard("saving the checkpoint artifact"):
                self.save_checkpoint_artifact(trainer, filepath)

    def _remove_checkpoint(self, trainer: Any, filepath: str) -> None:
        super()._remove_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            with self._guard("removing the checkpoint artifact"):
                self._checkpoint_removed(trainer, filepath)

    def save_checkpoint_artifact(
        self, trainer: Any, filepath: str, *, feature_values: dict[str, Any] | None = None
    ) -> Any:
        """Save one checkpoint file as an artifact, annotate it and move the flags."""
        self._ensure(trainer)
        self._save_hparams_once(trainer)
        key = self.resolve_artifact_key(trainer, filepath, "checkpoint")
        (artifact,) = adapters.register_outputs(
            self._run,
            [adapters.Output(filepath, key=key, description=CHECKPOINT_DESCRIPTION)],
            kind="model",
            create_features=False,
        )
        entry = Entry(filepath, artifact, self._score_for(filepath))
        replaced = self._ledger.add(entry)
        updates = self._replaced_updates(entry, replaced)
        own = {**self._artifact_values(trainer, entry.score), **(feature_values or {})}
        updates += self._flag_updates()
        self._write_values(entry, own, updates)
        self._write_run_values_once(trainer)
        self._saved("checkpoint", trainer, filepath, artifact)
        return artifact

    def _score_for(self, filepath: str) -> float | None:
        if not self.monitor or filepath not in self.best_k_models:
            return None
        return _features.score_of(self.best_k_models[filepath])

    def _artifact_values(self, trainer: Any, score: float | None) -> dict[str, Any]:
        auto = {
            "save_weights_only": self.save_weights_only,
            "monitor": self.monitor,
            "mode": self.mode,
            "score": score,
        }
        values = {k: v for k, v in auto.items() if k in self._existing and v is not None}
        for name, value in self._user_features.artifact.items():
            given = _features.read_at_save(trainer, name) if value is None else value
            if given is not None:
                values[name] = given
        return values

    def _flag_updates(self) -> list[tuple[Entry, dict[str, Any]]]:
        ranked = set(self.best_k_models) if self.monitor else None
        wanted = self._ledger.wanted(self.best_model_path, ranked, self.mode)
        return self._ledger.changes(wanted, self._existing)

    def _replaced_updates(
        self, entry: Entry, replaced: Entry | None
    ) -> list[tuple[Entry, dict[str, Any]]]:
        """A file saved again: its earlier version keeps no best/last flag (or goes)."""
        if replaced is None:
            return []
        if replaced.artifact.id == entry.artifact.id:
            entry.written = replaced.written
            return []
        if not self.keep_versions and replaced.artifact.key == entry.artifact.key:
            replaced.artifact.delete(permanent=True)
            return []
        return self._unflagged(replaced)

    def _unflagged(self, entry: Entry) -> list[tuple[Entry, dict[str, Any]]]:
        """A checkpoint out of the ledger keeps no rank, best or last flag."""
        if entry.written.get("model_rank") is not None:
            entry.artifact.features.remove_values("model_rank")
            entry.written.pop("model_rank")
        flags: dict[str, Any] = {
            k: False
            for k in ("is_best_model", "is_last_model")
            if k in self._existing and entry.written.get(k) is not False
        }
        return [(entry, flags)] if flags else []

    @staticmethod
    def _merge(
        entry: Entry, own: dict[str, Any], updates: list[tuple[Entry, dict[str, Any]]]
    ) -> list[tuple[Entry, dict[str, Any]]]:
        """One ``(artifact, values)`` pair per artifact, the new checkpoint's first."""
        merged: dict[int, tuple[Any, dict[str, Any]]] = {entry.artifact.id: (entry, dict(own))}
        for item, values in updates:
            merged.setdefault(item.artifact.id, (item, {}))[1].update(values)
        return [(item, values) for item, values in merged.values() if values]

    def _write_values(
        self, entry: Entry, own: dict[str, Any], updates: list[tuple[Entry, dict[str, Any]]]
    ) -> None:
        """The flags and the new checkpoint's own values, in one write as a rule.

        Its own values are the user's (``features=``, ``feature_values``) and settings whose
        features the user may have made with another dtype; one that does not fit must not
        cost the flags (one best, one last). Then the flags go alone, and the own values
        that fit after them, with one log line naming the rest.
        """
        try:
            self._write_flags(self._merge(entry, own, updates))
        except (tl.errors.InvalidFeatureValue, tl.errors.UnknownFeature):
            self._write_flags(self._merge(entry, {}, updates))  # checked first: none written
            entry.written.update(
                _features.annotate_what_fits(entry.artifact, own, "checkpoint values")
            )

    @staticmethod
    def _write_flags(updates: list[tuple[Entry, dict[str, Any]]]) -> None:
        """All values of one save or removal in one transaction, then remembered."""
        if not updates:
            return
        adapters.annotate_records([(item.artifact, values) for item, values in updates])
        for item, values in updates:
            item.written.update(values)

    def _checkpoint_removed(self, trainer: Any, filepath: str) -> None:
        entry = self._ledger.remove(filepath)
        artifact = entry.artifact if entry is not None else None
        if entry is not None:
            self._write_flags([*self._unflagged(entry), *self._flag_updates()])
            entry.artifact.delete()  # to the trash: restorable until `threadline gc`
        key = (
            artifact.key
            if artifact is not None
            else self.resolve_artifact_key(trainer, filepath, "checkpoint")
        )
        uri = self.resolve_artifact_storage_uri(artifact) if artifact is not None else None
        self._emit(
            ArtifactRemovedEvent(
                kind="checkpoint",
                key=key,
                local_path=Path(filepath),
                trainer=trainer,
                artifact=artifact,
                storage_uri=uri,
            )
        )

    # -- run features, hparams and config ----------------------------------------------
    def _write_run_values_once(self, trainer: Any) -> None:
        if self._run is None or self._run_values_written:
            return
        self._run_values_written = True
        with self._guard("run features"):  # a bad hparam value: log, go on
            values = _features.run_values(
                trainer, trainer.lightning_module, self.monitor, self.mode, self._existing
            )
            if values:
                _features.annotate_what_fits(self._run, values)

    def _save_hparams_once(self, trainer: Any) -> None:
        if self._hparams_saved or not trainer.loggers:
            return
        log_dir = getattr(trainer.loggers[0], "log_dir", None)
        path = os.path.join(log_dir, "hparams.yaml") if log_dir else None
        if path and os.path.isfile(path):
            self._hparams_saved = True
            self.save_hparams_artifact(trainer, path)

    def save_hparams_artifact(self, trainer: Any, hparams_path: str) -> Any:
        """Save ``hparams.yaml`` under the checkpoint prefix (an output, not an input)."""
        self._ensure(trainer)
        key = self.resolve_artifact_key(trainer, hparams_path, "hparams")
        artifact = _config.store(self._run, hparams_path, key, HPARAMS_DESCRIPTION)
        self._saved("hparams", trainer, hparams_path, artifact)
        return artifact

    def save_config_artifact(self, trainer: Any, config_path: str) -> Any:
        """Save the CLI config as an input of the active run (not its output): an artifact
        no run created, linked as the run's input in the same transaction."""
        self._ensure(trainer)
        key = self.resolve_artifact_key(trainer, config_path, "config")
        artifact = _config.store(self._run, config_path, key, CONFIG_DESCRIPTION, config=True)
        self._saved("config", trainer, config_path, artifact)
        return artifact
