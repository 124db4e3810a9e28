"""LightningCLI: the resolved config that Lightning's own SaveConfigCallback writes is an
input of the run, with no change to the entry point."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import threadline as tl
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.cli import SaveConfigCallback as LightningSaveConfigCallback
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


def run_cli(*args: str, overwrite: bool = False, **options: Any) -> LightningCLI:
    """LightningCLI as users call it: its own SaveConfigCallback unless ``options`` name one."""
    saving = {"overwrite": overwrite, **options.pop("save_config_kwargs", {})}
    return LightningCLI(
        CliModel,
        TinyData,
        **options,
        save_config_kwargs=saving,
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


def test_the_named_save_config_callback_still_works(local_instance, isolated):
    run = tl.track(key="train.py")
    run_cli("--model.lr=0.03", save_config_callback=SaveConfigCallback)
    (config,) = tl.Artifact.filter(kind="config").all()  # recorded once
    assert config.load()["model"]["lr"] == 0.03
    assert [a.uid for a in tl.Run.get(uid=run.uid).inputs] == [config.uid]
    tl.finish()


def test_config_not_written_to_the_log_dir_is_recorded_from_the_parser(local_instance, isolated):
    class ElsewhereOnly(LightningSaveConfigCallback):  # Lightning's way to skip the log dir
        def save_config(self, trainer, pl_module, stage):
            pass  # e.g. sent to an experiment tracker

    run = tl.track(key="train.py")
    run_cli(
        "--model.lr=0.04",
        save_config_callback=ElsewhereOnly,
        save_config_kwargs={"save_to_log_dir": False},
    )
    assert not list(isolated.rglob("config.yaml"))  # Lightning wrote none
    config = tl.Artifact.get(kind="config")
    assert config.key == f"out/lightning_logs/{run.uid}/config.yaml"
    assert config.load()["model"]["lr"] == 0.04
    assert [a.uid for a in tl.Run.get(uid=run.uid).inputs] == [config.uid]
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


TRAIN_PY = """
import threadline as tl
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.cli import SaveConfigCallback as LightningSaveConfigCallback

from tests.plugins.lightning.models import TinyData, TinyModel


def cli_main():
    cli = LightningCLI(TinyModel, TinyData)  # Lightning's documented entry point


if __name__ == "__main__":
    tl.track()  # a run to record into (no other threadline line)
    cli_main()
    tl.finish()
"""

CONFIG_YAML = """
seed_everything: 0
trainer:
  max_epochs: 2
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
  limit_train_batches: 2
  limit_val_batches: 1
  num_sanity_val_steps: 0
  log_every_n_steps: 1
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args:
      save_dir: out
  callbacks:
    - class_path: threadline.lightning.Checkpoint
      init_args:
        monitor: val_loss
        save_top_k: 1
model:
  lr: 0.02
  hidden: 3
data:
  batch_size: 4
  hidden: 3
"""


def test_unchanged_entry_point_in_a_subprocess(db_instance, isolated):
    """``python train.py fit --config cfg.yaml``: the Checkpoint named in the YAML finds
    the config that Lightning's own SaveConfigCallback wrote, with no code for it."""
    (isolated / "train.py").write_text(TRAIN_PY)
    (isolated / "cfg.yaml").write_text(textwrap.dedent(CONFIG_YAML))
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        "JSONARGPARSE_DEPRECATION_WARNINGS": "off",  # Lightning 2.6 vs jsonargparse 4.4x
    }
    done = subprocess.run(
        [sys.executable, "train.py", "fit", "--config", "cfg.yaml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = isolated / "out/lightning_logs/version_0/config.yaml"  # Lightning's own file
    (run,) = tl.Run.filter().all()
    config = tl.Artifact.get(kind="config")
    assert config.key == f"out/lightning_logs/{run.uid}/config.yaml"
    assert config.hash == tl.adapters.hash_files([written])[0]  # the very file
    recorded = config.load()
    assert recorded["model"] == {"lr": 0.02, "hidden": 3, "losses": None}
    assert recorded["data"] == {"batch_size": 4, "hidden": 3}
    callbacks = recorded["trainer"]["callbacks"]
    assert [c["class_path"] for c in callbacks] == ["threadline.lightning.Checkpoint"]
    assert [a.uid for a in tl.Run.get(uid=run.uid).inputs] == [config.uid]
    (best,) = tl.Artifact.filter(kind="model").all()
    assert best.run.uid == run.uid and best.key.startswith(f"out/lightning_logs/{run.uid}/")
