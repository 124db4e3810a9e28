"""``MLflowObserver``: checkpoint artifacts reported to MLflow, the best one registered.

Attach it to ``threadline.lightning.Checkpoint(artifact_observers=[...])``. For each saved
checkpoint it sets tags on the MLflow run: ``threadline.checkpoint.<file name>`` (and
``threadline.checkpoint.last``, ``threadline.checkpoint.best``) to the artifact's storage
URI; an evicted checkpoint's tag is removed. With ``register_model="name"`` every new best
checkpoint becomes a version of that registered model, source = its storage URI, and
``alias`` moves to it. The MLflow run is the one given, else the trainer's
``MLFlowLogger``'s, else the active MLflow run.
"""

import logging
import os
import re
from typing import Any

from ._link import mlflow_logger

log = logging.getLogger("threadline.mlflow")
TAG_PREFIX = "threadline.checkpoint."


def tag_name(key: str) -> str:
    """An MLflow-safe tag for a checkpoint key (its file name, odd characters as ``_``)."""
    return TAG_PREFIX + re.sub(r"[^\w.\-/ ]", "_", key.rsplit("/", 1)[-1])


def is_best(event: Any) -> bool:
    """Whether a checkpoint callback on the trainer holds this file as its best."""
    path = os.path.abspath(event.local_path)
    return any(
        os.path.abspath(cb.best_model_path or "") == path
        for cb in getattr(event.trainer, "checkpoint_callbacks", ())
        if getattr(cb, "best_model_path", None)
    )


class MLflowObserver:
    """Report checkpoint artifacts to an MLflow run and register the best as a model."""

    def __init__(
        self,
        *,
        run_id: str | None = None,
        tracking_uri: str | None = None,
        register_model: str | None = None,
        alias: str = "best",
    ) -> None:
        self.run_id, self.tracking_uri = run_id, tracking_uri
        self.register_model, self.alias = register_model, alias
        self.registered: list[Any] = []  # model versions created, oldest first
        self._registered_uid: str | None = None

    def _target(self, trainer: Any) -> tuple[Any, str] | None:
        """(client, MLflow run id) to report to, or None when there is no MLflow run."""
        import mlflow

        if self.run_id is not None:
            return mlflow.MlflowClient(self.tracking_uri or mlflow.get_tracking_uri()), self.run_id
        logger = mlflow_logger(trainer)
        if logger is not None:
            return logger.experiment, logger.run_id
        active = mlflow.active_run()
        if active is not None:
            return mlflow.MlflowClient(mlflow.get_tracking_uri()), active.info.run_id
        return None

    def on_artifact_saved(self, event: Any) -> None:
        if event.kind != "checkpoint":
            return
        target = self._target(event.trainer)
        if target is None:
            log.warning("threadline: no MLflow run to report %s to", event.key)
            return
        client, run_id = target
        client.set_tag(run_id, tag_name(event.key), event.storage_uri)
        client.set_tag(run_id, TAG_PREFIX + "last", event.storage_uri)
        if is_best(event):
            client.set_tag(run_id, TAG_PREFIX + "best", event.storage_uri)
            if self.register_model and event.artifact.uid != self._registered_uid:
                self.register(client, run_id, event.artifact, event.storage_uri)

    def on_artifact_removed(self, event: Any) -> None:
        if event.kind != "checkpoint":
            return
        target = self._target(event.trainer)
        if target is not None:
            client, run_id = target
            if tag_name(event.key) in client.get_run(run_id).data.tags:
                client.delete_tag(run_id, tag_name(event.key))

    def register(self, client: Any, run_id: str, artifact: Any, storage_uri: str) -> Any:
        """Make ``artifact`` a new version of ``register_model`` and point ``alias`` at it."""
        from mlflow.exceptions import MlflowException

        name = str(self.register_model)
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name)
        version = client.create_model_version(
            name,
            source=storage_uri,
            run_id=run_id,
            tags={"threadline.artifact_uid": artifact.uid, "threadline.key": artifact.key},
        )
        if self.alias:
            client.set_registered_model_alias(name, self.alias, version.version)
        self._registered_uid = artifact.uid
        self.registered.append(version)
        return version
