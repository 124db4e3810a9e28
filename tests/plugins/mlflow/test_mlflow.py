"""threadline.mlflow against a real MLflow tracking store (SQLite backend) and real fits."""

import logging

import mlflow
import pytest
import threadline as tl
from lightning.pytorch.loggers import MLFlowLogger
from threadline.lightning import Checkpoint, save_lightning_features
from threadline.mlflow import RUN_UID_TAG, MLflowObserver, find_run, link

from tests.plugins.lightning.models import TinyData, TinyModel, trainer


def test_mlflow_logger_links_both_ways_and_registers_the_best(local_instance, isolated, mlflow_uri):
    save_lightning_features()
    run = tl.track(key="train.py")
    logger = MLFlowLogger(experiment_name="tiny", tracking_uri=mlflow_uri)
    observer = MLflowObserver(register_model="tiny-model", alias="champion")
    checkpoint = Checkpoint(monitor="val_loss", save_top_k=1, artifact_observers=[observer])
    trainer([checkpoint], max_epochs=3, logger=logger).fit(
        TinyModel(losses=[2.0, 1.0, 3.0]), TinyData()
    )
    tl.finish()

    client = mlflow.MlflowClient(mlflow_uri)
    mlflow_run = client.get_run(logger.run_id)
    assert mlflow_run.data.tags[RUN_UID_TAG] == run.uid
    assert {
        "mlflow_run_id": logger.run_id,
        "mlflow_experiment_id": logger.experiment_id,
        "mlflow_tracking_uri": mlflow_uri,
    }.items() <= tl.Run.get(uid=run.uid).features.get_values().items()
    assert find_run(logger.run_id).uid == run.uid

    best = tl.Artifact.get(is_best_model=True)
    tags = mlflow_run.data.tags
    assert tags["threadline.checkpoint.best"] == best.uri
    assert tags["threadline.checkpoint.epoch_1-step_4.ckpt"] == best.uri
    assert "threadline.checkpoint.epoch_0-step_2.ckpt" not in tags  # evicted: tag removed
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert version.source == best.uri and version.run_id == logger.run_id
    assert version.tags["threadline.artifact_uid"] == best.uid
    assert [int(v.version) for v in observer.registered] == [1, 2]  # each new best


def test_active_mlflow_run_is_linked_automatically(local_instance, isolated, mlflow_uri):
    with mlflow.start_run() as active:
        run = tl.track(key="train.py")
        trainer([Checkpoint(artifact_observers=[MLflowObserver()])], max_epochs=1).fit(
            TinyModel(), TinyData()
        )
        tl.finish()
    assert find_run(active.info.run_id).uid == run.uid
    tags = mlflow.MlflowClient().get_run(active.info.run_id).data.tags
    assert tags[RUN_UID_TAG] == run.uid
    assert tags["threadline.checkpoint.last"] == tl.Artifact.get(kind="model").uri


def test_link_without_lightning(local_instance, isolated, mlflow_uri):
    with mlflow.start_run() as active:
        run = tl.track(key="analysis.py")
        linked = link()
        tl.finish()
    assert (linked.run_uid, linked.mlflow_run_id) == (run.uid, active.info.run_id)
    assert find_run("no-such-run") is None


def test_link_needs_both_runs(local_instance, isolated, mlflow_uri):
    with pytest.raises(tl.errors.TrackingError, match="no threadline run"):
        link()
    tl.track(key="analysis.py")
    with pytest.raises(tl.errors.InvalidInput, match="no MLflow run"):
        link()
    tl.finish()


def test_mlflow_failure_does_not_fail_lightning(
    local_instance, isolated, mlflow_uri, monkeypatch, caplog
):
    monkeypatch.delenv("THREADLINE_STRICT")
    observer = MLflowObserver(run_id="no-such-run", tracking_uri=mlflow_uri)  # a real error
    checkpoint = Checkpoint(save_top_k=-1, artifact_observers=[observer])
    trainer([checkpoint], max_epochs=2).fit(TinyModel(), TinyData())
    assert tl.Artifact.filter(kind="model").count() == 2  # training and artifacts went on
    errors = [
        r for r in caplog.records if r.name == "threadline.lightning" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and "MLflowObserver.on_artifact_saved" in errors[0].getMessage()
