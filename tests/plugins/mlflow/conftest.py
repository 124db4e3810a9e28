from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapter failures re-raise in these tests instead of being logged."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")


@pytest.fixture(scope="session")
def tracking_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real MLflow tracking store (SQLite backend, which the model registry needs)
    for the session: creating its tables takes seconds."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # creates the tables once
    return uri


@pytest.fixture
def mlflow_uri(tracking_store: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session store as the tracking URI, with a fresh experiment per test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_store)
    mlflow.set_tracking_uri(tracking_store)
    name = f"exp-{tmp_path.name}"
    mlflow.set_experiment(
        experiment_id=mlflow.MlflowClient().create_experiment(
            name, artifact_location=(tmp_path / "mlartifacts").as_uri()
        )
    )
    yield tracking_store
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
