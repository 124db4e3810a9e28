"""The features the checkpoint callback fills in, and the user's own.

``save_lightning_features()`` creates the auto-features once per instance; the callback
writes a value only for features that exist, found with one query at ``setup()`` (together
with every hyperparameter name that has a feature of its own). Values are gathered here as
plain dictionaries; the callback writes them (``annotate_what_fits`` for the run's, and
for a checkpoint's own values when one does not fit, so that it never blocks the flags).
The CLI config is stored with its secrets masked (``redacted_copy``).
"""

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import threadline as tl
import yaml
from threadline import adapters

log = logging.getLogger("threadline.lightning")
GROUP = "lightning"  # the description prefix that marks these features as the adapter's
RUN_FEATURES: dict[str, type] = {
    "logger_name": str,
    "logger_version": str,
    "max_epochs": int,
    "max_steps": int,
    "precision": str,
    "accumulate_grad_batches": int,
    "gradient_clip_val": float,
    "monitor": str,
    "mode": str,
}
ARTIFACT_FEATURES: dict[str, type] = {
    "is_best_model": bool,
    "is_last_model": bool,
    "score": float,
    "model_rank": int,
    "save_weights_only": bool,
    "monitor": str,
    "mode": str,
}
_DESCRIPTIONS = {
    "is_best_model": "the checkpoint is the best one so far",
    "is_last_model": "the checkpoint is the most recent one",
    "score": "the monitored metric's value at the checkpoint",
    "model_rank": "rank by score among the kept checkpoints (0 = best)",
    "save_weights_only": "the checkpoint holds the weights only",
    "monitor": "the metric checkpoints are compared by",
    "mode": "min or max: the better direction of the monitored metric",
    "logger_name": "the first logger's name",
    "logger_version": "the first logger's version",
    "max_epochs": "Trainer(max_epochs)",
    "max_steps": "Trainer(max_steps)",
    "precision": "Trainer precision, e.g. 32-true",
    "accumulate_grad_batches": "Trainer(accumulate_grad_batches)",
    "gradient_clip_val": "Trainer(gradient_clip_val)",
}


def save_lightning_features() -> list[Any]:
    """Create the auto-features (idempotent) and return them.

    A feature of the same name that already exists with another dtype is an
    ``InvalidInput`` naming it, before anything is created.
    """
    wanted = {**RUN_FEATURES, **ARTIFACT_FEATURES}
    existing = {f.name: f for f in tl.Feature.filter(name__in=list(wanted))}
    dtypes = {name: tl.Feature(name=name, dtype=kind).dtype for name, kind in wanted.items()}
    clash = [n for n, f in existing.items() if f.dtype != dtypes[n]]
    if clash:
        raise tl.errors.InvalidInput(
            f"feature {clash[0]!r} exists with dtype {existing[clash[0]].dtype}, not "
            f"{dtypes[clash[0]]}: rename it to use threadline.lightning's auto-features"
        )
    return [
        existing.get(name)
        or tl.Feature(name=name, dtype=kind, description=f"{GROUP}: {_DESCRIPTIONS[name]}").save()
        for name, kind in wanted.items()
    ]


@dataclass
class UserFeatures:
    """``features={"run": {...}, "artifact": {...}}`` as given to the callback."""

    run: dict[str, Any] = field(default_factory=dict)
    artifact: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, features: dict[str, dict[str, Any]] | None) -> "UserFeatures":
        given = dict(features or {})
        wrong = sorted(set(given) - {"run", "artifact"})
        if wrong:
            raise ValueError(
                f"features has key(s) {', '.join(map(repr, wrong))}: use 'run' and/or 'artifact'"
            )
        return cls(run=dict(given.get("run") or {}), artifact=dict(given.get("artifact") or {}))

    def names(self) -> set[str]:
        return set(self.run) | set(self.artifact)


def hparam_sources(trainer: Any, pl_module: Any) -> list[dict[str, Any]]:
    """The hyperparameters of the module and of the datamodule (when there are some)."""
    sources = []
    for owner in (pl_module, getattr(trainer, "datamodule", None)):
        hparams = getattr(owner, "hparams", None) if owner is not None else None
        if hparams:
            sources.append(dict(hparams))
    return sources


def discover(trainer: Any, pl_module: Any, user: UserFeatures) -> set[str]:
    """The names of auto-, hparam- and user features that exist: one query.

    User features that do not exist are a ``ValueError`` naming them.
    """
    hparam_names = {name for source in hparam_sources(trainer, pl_module) for name in source}
    wanted = set(RUN_FEATURES) | set(ARTIFACT_FEATURES) | hparam_names | user.names()
    found = {row["name"] for row in tl.Feature.filter(name__in=sorted(wanted)).to_dicts()}
    missing = sorted(user.names() - found)
    if missing:
        raise ValueError(
            f"feature(s) {', '.join(missing)} do not exist: create them first "
            "with tl.Feature(name=..., dtype=...).save()"
        )
    return found


def logger_version(logger: Any) -> str | None:
    version = logger.version
    if version is None:
        return None
    return version if isinstance(version, str) else f"version_{version}"


def run_values(
    trainer: Any, pl_module: Any, monitor: str | None, mode: str, existing: set[str]
) -> dict[str, Any]:
    """Run-level values: trainer settings, logger, and hparams that have features."""
    values: dict[str, Any] = {}
    if trainer.loggers:
        values["logger_name"] = trainer.loggers[0].name
        values["logger_version"] = logger_version(trainer.loggers[0])
    values.update(
        max_epochs=trainer.max_epochs,
        max_steps=trainer.max_steps,
        precision=str(trainer.precision),
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        monitor=monitor,
        mode=mode,
    )
    values = {k: v for k, v in values.items() if k in RUN_FEATURES and k in existing}
    for source in hparam_sources(trainer, pl_module):
        values.update({k: plain(v) for k, v in source.items() if k in existing})
    return {k: v for k, v in values.items() if v is not None}


def plain(value: Any) -> Any:
    """A tensor or numpy scalar as a Python number; anything else unchanged."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0:
        return item()
    return value


def score_of(value: Any) -> float | None:
    if value is None:
        return None
    number = float(plain(value))
    return None if math.isnan(number) else number


def read_at_save(trainer: Any, name: str) -> Any:
    """A user artifact feature given as ``None``: the trainer attribute or logged metric."""
    if hasattr(trainer, name):
        return plain(getattr(trainer, name))
    metric = trainer.callback_metrics.get(name)
    return plain(metric) if metric is not None else None


def annotate_what_fits(
    record: Any, values: dict[str, Any], what: str = "run values"
) -> dict[str, Any]:
    """All values in one write; when one does not fit its feature (or names none), the
    others one by one, and one log line names what was left out. Returns what was written.

    Values are the user's (or hparams): one that does not fit must never cost the rest.
    """
    try:
        adapters.annotate(record, values)
        return dict(values)
    except (tl.errors.InvalidFeatureValue, tl.errors.UnknownFeature):
        pass
    written: dict[str, Any] = {}
    skipped: list[str] = []
    for name, value in values.items():
        try:
            adapters.annotate(record, {name: value})
            written[name] = value
        except (tl.errors.InvalidFeatureValue, tl.errors.UnknownFeature) as err:
            skipped.append(str(err))
    log.warning("threadline: %s left out: %s", what, "; ".join(skipped))
    return written


def redacted_copy(path: str, folder: str) -> str:
    """``path`` itself, or a copy in ``folder`` with secrets masked when it holds any."""
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:  # e.g. python object tags in hparams.yaml: mask the text itself
        data = text
    masked = adapters.redact(data)
    if masked == data:
        return path
    copy = os.path.join(folder, os.path.basename(path))
    Path(copy).write_text(
        masked if isinstance(masked, str) else yaml.safe_dump(masked, sort_keys=False)
    )
    return copy
