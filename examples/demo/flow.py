"""The demo's Prefect flow: the Snakemake letter table in, a trained model out.

``build_features`` turns the table of letter counts into one row per greeting (its length
and the frequency of each letter), validated by a pandera schema saved as a threadline
schema; ``train`` fits a tiny autoencoder of those letter profiles with PyTorch Lightning
on the CPU. ``threadline.lightning.Checkpoint`` makes each checkpoint an artifact of the
task's run, and an ``MLFlowLogger`` plus ``MLflowObserver`` link the run to MLflow (a
SQLite tracking store) and register the best checkpoint as a model version.
"""

import string
from pathlib import Path

import threadline as tl
from threadline.prefect import flow, task

LETTERS = list(string.ascii_uppercase)


def feature_schema() -> tl.Schema:
    import pandera.pandas as pa

    rules = pa.DataFrameSchema(
        {
            "greeting": pa.Column(str, pa.Check.str_matches(r"^[A-Z][a-z]+$"), unique=True),
            "length": pa.Column(int, pa.Check.ge(1)),
            **{f"freq_{c}": pa.Column(float, pa.Check.in_range(0.0, 1.0)) for c in LETTERS},
        },
        name="greeting-letter-profile",
        strict=True,
    )
    return tl.Schema(rules).save()


@task
def build_features(letters: Path) -> tl.Artifact:
    """One row per greeting: its length and the frequency of each letter."""
    import pandas as pd

    counts = pd.read_csv(letters, sep="\t")
    wide = counts.pivot_table(index="greeting", columns="letter", values="count", fill_value=0)
    wide = wide.reindex(columns=LETTERS, fill_value=0)
    length = wide.sum(axis=1)
    table = (wide.div(length, axis=0)).astype(float).add_prefix("freq_")
    table.insert(0, "length", length.astype("int64"))
    table = table.reset_index().rename_axis(columns=None)
    table["greeting"] = table["greeting"].astype(str)
    return tl.Artifact.from_dataframe(
        table, key="features/greetings.parquet", schema=feature_schema()
    ).save()


@task
def train(features: tl.Artifact, epochs: int, tracking_uri: str) -> tl.Artifact:
    """Fit the autoencoder; returns the best checkpoint's artifact."""
    import lightning as L
    import torch
    from lightning.pytorch.loggers import MLFlowLogger
    from model import LetterAutoencoder  # examples/demo/model.py, beside this file
    from threadline.lightning import Checkpoint, save_lightning_features
    from threadline.mlflow import MLflowObserver

    table = features.load()  # read inside the task: recorded as its input
    profiles = torch.tensor(table[[f"freq_{c}" for c in LETTERS]].to_numpy(), dtype=torch.float32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(profiles), batch_size=4)
    save_lightning_features()
    checkpoint = Checkpoint(
        dirpath="checkpoints",
        monitor="val_loss",
        save_top_k=2,
        artifact_observers=[MLflowObserver(register_model="greeting-autoencoder")],
    )
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=MLFlowLogger(experiment_name="threadline-demo", tracking_uri=tracking_uri),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    torch.manual_seed(0)
    trainer.fit(LetterAutoencoder(n_inputs=len(LETTERS)), loader, loader)
    return tl.Artifact.get(is_best_model=True, run__uid=tl.context.run.uid)


@flow(name="greetings-model")
def greetings_model(letters: Path, epochs: int = 8, tracking_uri: str = "") -> str:
    """Features from the letter table, then a model; returns the best checkpoint's uid."""
    features = build_features(letters)
    return train(features, epochs, tracking_uri).uid
