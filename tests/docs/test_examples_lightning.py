"""Examples of docs/lightning.md, each a real Trainer.fit on the CPU."""

import sys
from pathlib import Path

import lightning.pytorch as L
import pytest
import threadline as tl
import torch
from torch.utils.data import DataLoader, TensorDataset


class Regressor(L.LightningModule):
    """A linear model whose validation loss follows ``losses`` (to steer best and rank)."""

    def __init__(self, lr: float = 0.05, losses: tuple[float, ...] = (3.0, 1.0, 2.0)) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        losses = self.hparams.losses
        self.log("val_loss", torch.tensor(float(losses[self.current_epoch % len(losses)])))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader() -> DataLoader:
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)


def make_trainer(callbacks, max_epochs=3, **kwargs) -> L.Trainer:
    return L.Trainer(
        max_epochs=max_epochs,
        callbacks=callbacks,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        **kwargs,
    )


def fit(trainer: L.Trainer, model: L.LightningModule | None = None, **kwargs) -> None:
    trainer.fit(
        model or Regressor(), train_dataloaders=loader(), val_dataloaders=loader(), **kwargs
    )


def test_quickstart(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    # -- start lightning-quickstart --
    import threadline as tl
    from threadline.lightning import Checkpoint, save_lightning_features

    save_lightning_features()  # once per instance: is_best_model, score, model_rank, ...
    run = tl.track(params={"lr": 0.05})

    checkpoint = Checkpoint(dirpath="checkpoints", monitor="val_loss", save_top_k=2)
    trainer = make_trainer([checkpoint], max_epochs=3)  # an ordinary L.Trainer
    fit(trainer)
    tl.finish()

    best = tl.Artifact.get(is_best_model=True)  # the checkpoint with val_loss 1.0
    assert best.key == f"checkpoints/{run.uid}/checkpoints/epoch=1-step=4.ckpt"
    assert best.run.uid == run.uid and best.kind == "model"
    assert best.features.get_values()["score"] == 1.0
    assert tl.Artifact.get(is_last_model=True).key.endswith("epoch=2-step=6.ckpt")
    evicted = tl.Artifact.get(visibility="trash")  # val_loss 3.0 left the top 2
    assert evicted.key.endswith("epoch=0-step=2.ckpt")
    # -- end lightning-quickstart --


def test_features(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    from threadline.lightning import Checkpoint, save_lightning_features

    save_lightning_features()
    # -- start lightning-features --
    tl.Feature(name="lr", dtype=float).save()  # an hparam: recorded on the run
    tl.Feature(name="dataset", dtype=str).save()
    tl.Feature(name="val_loss", dtype=float).save()

    tl.track()
    checkpoint = Checkpoint(
        monitor="val_loss",
        features={
            "run": {"dataset": "synthetic-v1"},
            "artifact": {"val_loss": None},  # None: read at save time from the logged metrics
        },
    )
    fit(make_trainer([checkpoint], max_epochs=2, gradient_clip_val=1.0))
    run = tl.finish()

    assert run.features.get_values() == {
        "dataset": "synthetic-v1",
        "max_epochs": 2,
        "max_steps": -1,
        "precision": "32-true",
        "accumulate_grad_batches": 1,
        "gradient_clip_val": 1.0,
        "monitor": "val_loss",
        "mode": "min",
        "lr": 0.05,
    }
    best = tl.Artifact.get(is_best_model=True)
    assert best.features.get_values() == {
        "save_weights_only": False,
        "monitor": "val_loss",
        "mode": "min",
        "score": 1.0,
        "val_loss": 1.0,
        "is_best_model": True,
        "is_last_model": True,
        "model_rank": 0,
    }
    # -- end lightning-features --


def test_events(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    from threadline.lightning import save_lightning_features

    save_lightning_features()
    # -- start lightning-events --
    from threadline.lightning import ArtifactSavedEvent, Checkpoint

    class Registry:  # an observer: either method is optional
        def __init__(self) -> None:
            self.uris: dict[str, str] = {}

        def on_artifact_saved(self, event: ArtifactSavedEvent) -> None:
            self.uris[event.key] = event.storage_uri

        def on_artifact_removed(self, event) -> None:
            self.uris.pop(event.key, None)

    class AnnouncingCheckpoint(Checkpoint):  # a subclass hook runs before observers
        def on_artifact_saved(self, event: ArtifactSavedEvent) -> None:
            print(f"saved {event.kind} {event.key} (from {event.local_path.name})")

    registry = Registry()
    checkpoint = AnnouncingCheckpoint(monitor="val_loss", artifact_observers=[registry])
    fit(make_trainer([checkpoint], max_epochs=3))

    best = tl.Artifact.get(is_best_model=True)
    assert registry.uris == {best.key: best.uri}  # evicted checkpoints were removed
    assert checkpoint.last_checkpoint_artifact.uid == best.uid  # epoch 2 was no better
    # -- end lightning-events --


def test_versions(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    from threadline.lightning import Checkpoint

    # -- start lightning-versions --
    checkpoint = Checkpoint(save_last=True)  # last.ckpt every epoch; the rest: latest only
    fit(make_trainer([checkpoint], max_epochs=3))

    last = tl.Artifact.get(key="checkpoints/last.ckpt")
    assert [a.version for a in last.versions] == [1, 2, 3]  # nothing overwritten

    evicted = tl.Artifact.get(key="checkpoints/epoch=0-step=2.ckpt", visibility="trash")
    evicted.restore()  # back until `threadline gc` empties the trash
    # -- end lightning-versions --


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning's
def test_resume(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    from threadline.lightning import save_lightning_features

    save_lightning_features()
    # -- start lightning-resume --
    from threadline.lightning import Checkpoint

    def train(max_epochs: int, ckpt_path: str | None = None) -> None:
        checkpoint = Checkpoint(dirpath="ckpts", monitor="val_loss", save_top_k=2, save_last=True)
        model = Regressor(losses=(5.0, 4.0, 3.0, 3.5, 1.0))  # val_loss of epochs 0 to 4
        fit(make_trainer([checkpoint], max_epochs=max_epochs), model, ckpt_path=ckpt_path)

    first = tl.track()
    train(max_epochs=3)  # keeps epochs 1 and 2 (4.0, 3.0) and last.ckpt
    tl.finish()
    resumed = tl.track()
    train(max_epochs=5, ckpt_path="last")  # evicts epoch 1, then its own epoch 3 (3.5)
    tl.finish()

    best = tl.Artifact.get(is_best_model=True)  # one best and one last over both fits
    assert best.key == f"ckpts/{resumed.uid}/checkpoints/epoch=4-step=10.ckpt"
    assert tl.Artifact.get(is_last_model=True).key == f"ckpts/{resumed.uid}/checkpoints/last.ckpt"
    earlier = f"ckpts/{first.uid}/checkpoints"
    kept = tl.Artifact.get(key=f"{earlier}/epoch=2-step=6.ckpt")  # still in the top 2
    assert kept.features.get_values()["model_rank"] == 1  # was 0 in the first fit
    evicted = tl.Artifact.get(key=f"{earlier}/epoch=1-step=4.ckpt", visibility="trash")
    assert "model_rank" not in evicted.features.get_values()

    started_from = tl.Artifact.get(key=f"{earlier}/last.ckpt")
    assert [a.uid for a in resumed.inputs] == [started_from.uid]
    assert first.uid in {r.uid for r in tl.lineage.upstream(resumed).runs}
    # -- end lightning-resume --


def test_cli(local_instance, isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    # jsonargparse deprecates an API Lightning 2.6 calls: their warning, not ours
    monkeypatch.setenv("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    monkeypatch.setattr(sys, "argv", ["train.py", "fit", "--trainer.max_epochs=1"])
    Path("config.yaml").unlink(missing_ok=True)

    class DataModule(L.LightningDataModule):
        def train_dataloader(self):
            return loader()

        def val_dataloader(self):
            return loader()

    # -- start lightning-cli --
    from lightning.pytorch.cli import LightningCLI
    from threadline.lightning import Checkpoint

    run = tl.track()
    LightningCLI(  # with Lightning's own SaveConfigCallback
        Regressor,
        DataModule,
        seed_everything_default=0,
        trainer_defaults={
            "callbacks": [Checkpoint()],
            "logger": False,
            "enable_progress_bar": False,
            "log_every_n_steps": 1,
        },
    )
    tl.finish()

    config = tl.Artifact.get(kind="config")  # the resolved config: an input of the run
    assert config.key == f"{run.uid}/config.yaml" and config.run is None
    assert [a.uid for a in run.inputs] == [config.uid]
    assert config.load()["trainer"]["max_epochs"] == 1
    # -- end lightning-cli --
