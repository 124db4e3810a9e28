"""Two-way links between a threadline run and an MLflow run.

The threadline run gets the features ``mlflow_run_id``, ``mlflow_experiment_id`` and
``mlflow_tracking_uri`` (credentials masked); the MLflow run gets the tag
``threadline.run_uid``. Either side finds the other: ``find_run(mlflow_run_id)`` here,
``mlflow.search_runs(filter_string="tags.`threadline.run_uid` = '...'")`` there.
"""

import sys
from dataclasses import dataclass
from typing import Any

import threadline as tl
from threadline import adapters

RUN_UID_TAG = "threadline.run_uid"


@dataclass(frozen=True)
class MLflowLink:
    """What ``link`` recorded on both sides."""

    run_uid: str
    mlflow_run_id: str
    experiment_id: str
    tracking_uri: str


def link(
    run: Any = None, *, mlflow_run_id: str | None = None, tracking_uri: str | None = None
) -> MLflowLink:
    """Link ``run`` (default: the current run) and an MLflow run (default: the active one).

    Linking again is harmless: the same values are written again.
    """
    import mlflow

    run = run if run is not None else tl.context.run
    if run is None:
        raise tl.errors.TrackingError(
            "no threadline run to link: call tl.track() first or pass run="
        )
    if mlflow_run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise tl.errors.InvalidInput(
                "no MLflow run to link: start one with mlflow.start_run() or pass mlflow_run_id="
            )
        mlflow_run_id = active.info.run_id
    uri = tracking_uri or mlflow.get_tracking_uri()
    client = mlflow.MlflowClient(uri)
    info = client.get_run(mlflow_run_id).info
    stored_uri = adapters.redact(uri)
    adapters.annotate(
        run,
        {
            "mlflow_run_id": mlflow_run_id,
            "mlflow_experiment_id": info.experiment_id,
            "mlflow_tracking_uri": stored_uri,
        },
        create_features=True,
    )
    client.set_tag(mlflow_run_id, RUN_UID_TAG, run.uid)  # after ours: no one-way link
    return MLflowLink(run.uid, mlflow_run_id, info.experiment_id, stored_uri)


def mlflow_logger(trainer: Any) -> Any:
    """The trainer's first ``MLFlowLogger``, or None."""
    return next(
        (lg for lg in getattr(trainer, "loggers", ()) if type(lg).__name__ == "MLFlowLogger"), None
    )


def link_trainer(trainer: Any, run: Any = None) -> MLflowLink | None:
    """Link ``run`` to the trainer's MLflow run, if it logs to MLflow; else do nothing.

    An ``MLFlowLogger`` on the trainer wins; otherwise an MLflow run that is active in
    this process (checked without importing mlflow when nothing imported it yet).
    """
    logger = mlflow_logger(trainer)
    if logger is not None:
        return link(run, mlflow_run_id=logger.run_id, tracking_uri=logger.experiment.tracking_uri)
    module = sys.modules.get("mlflow")
    if module is not None and module.active_run() is not None:
        return link(run)
    return None


def find_run(mlflow_run_id: str) -> Any:
    """The threadline run linked to this MLflow run, or None."""
    return tl.Run.filter(mlflow_run_id=mlflow_run_id).first() if _feature_exists() else None


def _feature_exists() -> bool:
    return tl.Feature.filter(name="mlflow_run_id").exists()  # type: ignore[no-any-return]
