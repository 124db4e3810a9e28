"""Lightning adapter benchmark: what threadline.lightning.Checkpoint adds to a fit.

    python bench/lightning.py [--epochs 20] [--hparams 40] [--repeat 3]

The same fit (a tiny model on the CPU, ``save_top_k=3``, a new best every epoch so that
every epoch saves a checkpoint and evicts one, ``--hparams`` hyperparameters that all have
features) runs with Lightning's ``ModelCheckpoint`` and with ``Checkpoint``, inside one
tracked run on a fresh embedded instance in a temporary folder. Prints the best of
``--repeat`` wall-clock times of each, the added milliseconds per checkpoint (target
<= 25 ms), the time spent inside threadline per checkpoint measured directly, and the
database statements per checkpoint (first one apart: it writes the run's features).
Nothing here asserts.
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the package it measures: keep bench/ off the import path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))


def build(epochs: int, hparams: int):
    """The fit as a function of a checkpoint callback, and the timing subclass."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from threadline.lightning import Checkpoint

    from tests.plugins.lightning.models import TinyData, TinyModel, trainer
    from tests.sql_log import recorded_sql

    values = {f"hp{i}": float(i) for i in range(hparams)}
    losses = [float(epochs - i) for i in range(epochs)]

    def fit(callback: ModelCheckpoint) -> float:
        started = time.perf_counter()
        trainer([callback], max_epochs=epochs).fit(TinyModel(losses=losses, **values), TinyData())
        return time.perf_counter() - started

    class Timed(Checkpoint):
        """Records time and statements of each threadline save and removal."""

        saves: ClassVar[list[tuple[float, int]]] = []
        removals: ClassVar[list[tuple[float, int]]] = []

        def save_checkpoint_artifact(self, trainer, filepath, **kwargs):
            with recorded_sql() as sql:
                started = time.perf_counter()
                artifact = super().save_checkpoint_artifact(trainer, filepath, **kwargs)
                self.saves.append((time.perf_counter() - started, len(sql)))
            return artifact

        def _checkpoint_removed(self, trainer, filepath):
            with recorded_sql() as sql:
                started = time.perf_counter()
                super()._checkpoint_removed(trainer, filepath)
                self.removals.append((time.perf_counter() - started, len(sql)))

    return fit, Timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hparams", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.environ["THREADLINE_DB"] = f"sqlite:///{folder}/threadline.db"
        os.environ["THREADLINE_STORAGE"] = f"{folder}/storage"
        import threadline as tl
        from threadline.lightning import save_lightning_features

        save_lightning_features()
        for i in range(args.hparams):
            tl.Feature(name=f"hp{i}", dtype=float).save()
        fit, timed = build(args.epochs, args.hparams)
        from lightning.pytorch.callbacks import ModelCheckpoint

        tl.track(key="bench/lightning.py")
        plain, tracked = [], []
        for index in range(args.repeat):
            plain.append(
                fit(ModelCheckpoint(dirpath=f"plain{index}", monitor="val_loss", save_top_k=3))
            )
            timed.saves.clear()
            timed.removals.clear()
            tracked.append(fit(timed(dirpath=f"tracked{index}", monitor="val_loss", save_top_k=3)))
        tl.finish()
        report(args, min(plain), min(tracked), timed.saves, timed.removals)


def report(args, plain_s, tracked_s, saves, removals) -> None:
    n = len(saves)
    inside = (sum(t for t, _ in saves) + sum(t for t, _ in removals)) / n
    print(
        f"fit, {args.epochs} epochs, {args.hparams} hparams, save_top_k=3: "
        f"{n} checkpoints saved, {len(removals)} evicted"
    )
    print(f"  ModelCheckpoint  {plain_s * 1000:8.1f} ms (best of {args.repeat})")
    print(f"  Checkpoint       {tracked_s * 1000:8.1f} ms (best of {args.repeat})")
    print(
        f"  added per checkpoint (wall clock)        {(tracked_s - plain_s) * 1000 / n:6.1f} ms"
        "  (target <= 25 ms)"
    )
    print(
        f"  inside threadline per checkpoint         {inside * 1000:6.1f} ms"
        f"  (save median {statistics.median(t for t, _ in saves) * 1000:.1f} ms)"
    )
    later = [q for _, q in saves[1:]]
    print(
        f"  statements per checkpoint save: first {saves[0][1]} (run features), then "
        f"{min(later)}..{max(later)}; per eviction "
        f"{min(q for _, q in removals)}..{max(q for _, q in removals)}"
    )


if __name__ == "__main__":
    main()
