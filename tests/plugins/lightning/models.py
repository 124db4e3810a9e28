"""A tiny model and datamodule for real ``Trainer.fit`` runs on the CPU in seconds."""

from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class TinyModel(pl.LightningModule):
    """Linear regression; ``val_loss`` follows ``losses`` when given (to steer best/rank)."""

    def __init__(
        self, lr: float = 0.05, hidden: int = 4, losses: list[float] | None = None, **extra: Any
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["losses"])
        self.losses = losses
        self.layer = torch.nn.Linear(hidden, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        if self.losses is not None:
            loss = torch.tensor(float(self.losses[self.current_epoch % len(self.losses)]))
        self.log("val_loss", loss)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class TinyData(pl.LightningDataModule):
    def __init__(self, batch_size: int = 8, hidden: int = 4) -> None:
        super().__init__()
        self.save_hyperparameters()

    def _loader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(16, self.hparams.hidden, generator=generator)
        data = TensorDataset(x, x.sum(dim=1, keepdim=True))
        return DataLoader(data, batch_size=self.hparams.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        return self._loader()


def trainer(
    callbacks: list[Any], max_epochs: int = 2, logger: Any = False, devices: int = 1, **kwargs: Any
) -> pl.Trainer:
    """A quiet CPU trainer: no progress bar, no summary, two batches an epoch."""
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=devices,
        logger=logger,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        **kwargs,
    )
