"""threadline.mlflow: link threadline runs and MLflow runs, report checkpoints to MLflow.

``link()`` records the MLflow run on the threadline run (features ``mlflow_run_id``,
``mlflow_experiment_id``, ``mlflow_tracking_uri``) and the threadline run uid on the MLflow
run (tag ``threadline.run_uid``). ``threadline.lightning.Checkpoint`` calls
``link_trainer()`` itself when the trainer logs to MLflow or an MLflow run is active.
``MLflowObserver`` tags each checkpoint's storage URI on the MLflow run and can register
the best checkpoint as a model version with an alias. Importing this package does not
import mlflow. See docs/mlflow.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["RUN_UID_TAG", "MLflowLink", "MLflowObserver", "find_run", "link", "link_trainer"]

_LAZY = {
    "RUN_UID_TAG": "._link",
    "MLflowLink": "._link",
    "MLflowObserver": "._observer",
    "find_run": "._link",
    "link": "._link",
    "link_trainer": "._link",
}

if TYPE_CHECKING:
    from ._link import RUN_UID_TAG, MLflowLink, find_run, link, link_trainer
    from ._observer import MLflowObserver


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'threadline.mlflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
