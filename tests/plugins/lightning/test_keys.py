"""Key layout for each combination of dirpath, logger and active run, on real fits."""

import logging
import shutil

import pytest
import threadline as tl
from lightning.pytorch.loggers import CSVLogger
from threadline.lightning import Checkpoint

from tests.plugins.lightning.models import TinyData, TinyModel, trainer


def fit(checkpoint: Checkpoint, logger=False, **kwargs) -> list[str]:
    trainer([checkpoint], max_epochs=1, logger=logger, **kwargs).fit(TinyModel(), TinyData())
    return sorted(a.key for a in tl.Artifact.filter(key__endswith=".ckpt"))


def test_dirpath_with_run(local_instance, isolated):
    run = tl.track(key="train.py")
    keys = fit(Checkpoint(dirpath="ckpts"))
    assert keys == [f"ckpts/{run.uid}/checkpoints/epoch=0-step=2.ckpt"]
    assert tl.Artifact.get(key=keys[0]).run.uid == run.uid
    tl.finish()


def test_absolute_dirpath_below_cwd_is_relative(local_instance, isolated):
    run = tl.track(key="train.py")
    keys = fit(Checkpoint(dirpath=isolated / "out" / "ckpts"))
    assert keys == [f"out/ckpts/{run.uid}/checkpoints/epoch=0-step=2.ckpt"]
    tl.finish()


def test_dirpath_without_run_uid_as_version(local_instance, isolated):
    tl.track(key="train.py")
    checkpoint = Checkpoint(dirpath="ckpts/", run_uid_is_version=False)
    assert fit(checkpoint) == ["ckpts/checkpoints/epoch=0-step=2.ckpt"]
    assert checkpoint.base_prefix == "ckpts"
    assert checkpoint.checkpoint_key_prefix == "ckpts/checkpoints"
    tl.finish()


def test_logger_with_run(local_instance, isolated):
    run = tl.track(key="train.py")
    checkpoint = Checkpoint()
    keys = fit(checkpoint, logger=CSVLogger("logs", name="mnist"))
    assert keys == [f"logs/mnist/{run.uid}/checkpoints/epoch=0-step=2.ckpt"]
    hparams = tl.Artifact.get(key=f"logs/mnist/{run.uid}/checkpoints/hparams.yaml")
    assert hparams.description == "Lightning run hyperparameters"
    assert hparams.run.uid == run.uid and not tl.Run.get(uid=run.uid).inputs
    assert checkpoint.last_hparams_artifact.uid == hparams.uid
    tl.finish()


def test_logger_without_run_uses_logger_version(local_instance, isolated, caplog):
    caplog.set_level(logging.WARNING, logger="threadline.lightning")
    keys = fit(Checkpoint(), logger=CSVLogger("logs", name="mnist"))
    assert keys == ["logs/mnist/version_0/checkpoints/epoch=0-step=2.ckpt"]
    assert tl.Artifact.get(key=keys[0]).run is None
    said = [r for r in caplog.records if "no active run" in r.getMessage()]
    assert len(said) == 1  # said once


def test_no_dirpath_no_logger(local_instance, isolated):
    assert fit(Checkpoint()) == ["checkpoints/epoch=0-step=2.ckpt"]
    with tl.adapters.activate(tl.adapters.start_run("train", "training")) as run:
        checkpoint = Checkpoint(filename="model-{epoch}")
        keys = fit(checkpoint, default_root_dir="second")
    assert f"{run.uid}/checkpoints/model-epoch=0.ckpt" in keys  # filename passed through
    assert checkpoint.checkpoint_key_prefix == f"{run.uid}/checkpoints"


def test_two_runs_with_the_same_logger_get_distinct_keys(local_instance, isolated):
    uids = []
    for _ in range(2):
        with tl.adapters.activate(tl.adapters.start_run("train", "training")) as run:
            uids.append(run.uid)
            fit(Checkpoint(dirpath=None), logger=CSVLogger("logs", name="same", version=0))
            shutil.rmtree("logs")  # Lightning would warn about a non-empty directory
    keys = sorted(a.key for a in tl.Artifact.filter(key__endswith=".ckpt"))
    assert keys == sorted(f"logs/same/{u}/checkpoints/epoch=0-step=2.ckpt" for u in uids)


def test_flow_run_owns_the_checkpoints(local_instance, isolated):
    @tl.flow("train")
    def train() -> None:
        fit(Checkpoint(dirpath="ckpts"))

    train()
    flow_run = tl.Run.get(transform__key="train")
    assert [a.key.split("/")[1] for a in flow_run.outputs] == [flow_run.uid]


def test_unknown_feature_group_is_a_value_error():
    with pytest.raises(ValueError, match="'model'"):
        Checkpoint(features={"model": {"x": 1}})
