"""Examples of docs/mlflow.md, against a real MLflow tracking store (SQLite backend)."""

import lightning.pytorch as L
import mlflow
import pytest
import threadline as tl

from tests.docs.test_examples_lightning import Regressor, loader


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One tracking store for the module: creating MLflow's tables takes seconds."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.MlflowClient(uri).search_experiments()
    return uri


@pytest.fixture
def tracking(store, tmp_path, monkeypatch):
    uri = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(
        experiment_id=mlflow.MlflowClient().create_experiment(
            tmp_path.name, artifact_location=(tmp_path / "mlartifacts").as_uri()
        )
    )
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def test_logger_and_registry(local_instance, isolated, tracking):
    tracking_uri = tracking
    from threadline.lightning import save_lightning_features

    save_lightning_features()
    # -- start mlflow-lightning --
    from lightning.pytorch.loggers import MLFlowLogger
    from threadline.lightning import Checkpoint
    from threadline.mlflow import MLflowObserver, find_run

    run = tl.track()
    logger = MLFlowLogger(experiment_name="regression", tracking_uri=tracking_uri)
    observer = MLflowObserver(register_model="regressor", alias="champion")
    checkpoint = Checkpoint(monitor="val_loss", artifact_observers=[observer])
    trainer = L.Trainer(
        max_epochs=3,
        logger=logger,
        callbacks=[checkpoint],
        enable_progress_bar=False,
        log_every_n_steps=1,
    )
    trainer.fit(Regressor(losses=(3.0, 1.0, 2.0)), loader(), loader())
    tl.finish()

    client = mlflow.MlflowClient(tracking_uri)
    tags = client.get_run(logger.run_id).data.tags
    assert tags["threadline.run_uid"] == run.uid  # MLflow -> threadline
    assert find_run(logger.run_id).uid == run.uid  # threadline -> MLflow
    assert run.features.get_values()["mlflow_run_id"] == logger.run_id

    best = tl.Artifact.get(is_best_model=True)
    assert tags["threadline.checkpoint.best"] == best.uri
    champion = client.get_model_version_by_alias("regressor", "champion")
    assert champion.source == best.uri
    assert champion.tags["threadline.artifact_uid"] == best.uid
    # -- end mlflow-lightning --


def test_plain_mlflow(local_instance, isolated, tracking):
    # -- start mlflow-link --
    import mlflow
    from threadline.mlflow import link

    with mlflow.start_run() as active:
        run = tl.track(params={"alpha": 0.5})
        mlflow.log_param("alpha", 0.5)
        linked = link()  # the current threadline run and the active MLflow run
        tl.finish()

    assert linked.mlflow_run_id == active.info.run_id and linked.run_uid == run.uid
    assert run.features.get_values()["mlflow_experiment_id"] == active.info.experiment_id
    # -- end mlflow-link --
