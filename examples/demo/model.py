"""A tiny autoencoder of letter profiles: 26 -> 3 -> 26, trained on the CPU in a second."""

import lightning as L
import torch
from torch import nn


class LetterAutoencoder(L.LightningModule):
    def __init__(self, n_inputs: int = 26, hidden: int = 3, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.Tanh(), nn.Linear(hidden, n_inputs)
        )

    def _loss(self, batch: list[torch.Tensor]) -> torch.Tensor:
        (profiles,) = batch
        return nn.functional.mse_loss(self.net(profiles), profiles)

    def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: list[torch.Tensor], _: int) -> None:
        self.log("val_loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
