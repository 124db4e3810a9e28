"""LightningCLI with SaveConfigCallback: the resolved config is an input of the run."""

import sys
from pathlib import Path

import pytest
import threadline as tl
from lightning.pytorch.cli import LightningCLI
from threadline.lightning import Checkpoint, SaveConfigCallback

from tests.plugins.lightning.models import TinyData, TinyModel


class CliModel(TinyModel):
    def __init__(self, lr: float = 0.05, hidden: int = 4, api_token: str = "") -> None:
        super().__init__(lr=lr, hidden=hidden)


CSV_LOGGER = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "out"}}


@pytest.fixture(autouse=True)
def quiet_jsonargparse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning 2.6 calls a jsonargparse API that jsonargparse 4.4x deprecated; the
    warning is theirs, and filterwarnings=error would fail every CLI test on it."""
    monkeypatch.setenv("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    monkeypatch.setattr(sys, "argv", ["train.py"])  # pytest's own arguments are not ours


def run_cli(*args: str, overwrite: bool = False) -> LightningCLI:
    return LightningCLI(
        CliModel,
        TinyData,
        save_config_callback=SaveConfigCallback,
        save_config_kwargs={"overwrite": overwrite},
        seed_everything_default=0,
        trainer_defaults={
            "callbacks": [Checkpoint()],
            "logger": CSV_LOGGER,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
            "accelerator": "cpu",
            "devices": 1,
        },
        args=["fit", "--trainer.max_epochs=1", *args],
    )


def test_cli_config_is_an_input_of_the_run(local_instance, isolated):
    run = tl.track(key="train.py")
    cli = run_cli("--model.lr=0.02", "--model.api_token=s3cr3t")
    config = tl.Artifact.get(kind="config")
    prefix = f"out/lightning_logs/{run.uid}"
    assert config.key == f"{prefix}/config.yaml"
    assert config.description == "Lightning CLI config"
    assert config.load()["model"]["lr"] == 0.02
    assert config.load()["model"]["api_token"] == "***"  # secrets masked in the artifact
    assert "s3cr3t" in (isolated / "out/lightning_logs/version_0/config.yaml").read_text()
    assert config.run is None and [a.uid for a in tl.Run.get(uid=run.uid).inputs] == [config.uid]
    checkpoint = cli.trainer.checkpoint_callback
    assert checkpoint.last_config_artifact.uid == config.uid
    hparams = checkpoint.last_hparams_artifact  # hparams.yaml holds the same secret
    assert "s3cr3t" not in Path(hparams.cache()).read_text()
    assert "***" in Path(hparams.cache()).read_text()
    assert tl.Artifact.get(key=f"{prefix}/checkpoints/epoch=0-step=2.ckpt").run.uid == run.uid
    tl.finish()


def test_cli_config_is_all_or_nothing(local_instance, isolated, monkeypatch):
    run = tl.track(key="train.py")

    # A real fault, nothing replaced: SQLite refuses the last write of the save (linking
    # the config as the run's input), after the artifact's record was written.
    db = tl.Run._meta.database
    db.execute_sql(
        'CREATE TRIGGER refuse BEFORE INSERT ON "run_input" '
        "BEGIN SELECT RAISE(ABORT, 'connection lost'); END"
    )
    with pytest.raises(Exception, match="connection lost"):  # the driver's own error
        run_cli()
    db.execute_sql("DROP TRIGGER refuse")
    assert tl.Artifact.filter(kind="config").count() == 0  # neither output nor stray
    assert list(tl.Run.get(uid=run.uid).inputs) == []
    tl.finish()


def test_cli_refuses_to_overwrite_a_config(local_instance, isolated):
    run_cli("--trainer.logger=false")  # no logger: default_root_dir/config.yaml
    with pytest.raises(RuntimeError, match="to NOT exist"):
        run_cli("--trainer.logger=false")
    assert tl.Artifact.filter(kind="config").count() == 1
