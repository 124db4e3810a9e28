"""Trained by test_ddp.py: two CPU processes (gloo) under strategy="ddp".

Lightning starts rank 1 by running this script again; only rank zero tracks a run and
writes to threadline. Each rank prints whether it opened the threadline instance.
"""

import sys
from pathlib import Path

import threadline as tl
from lightning.pytorch.utilities import rank_zero_only
from threadline import _context  # a test peeks: did this rank open the database?
from threadline.lightning import Checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.plugins.lightning.models import TinyData, TinyModel, trainer

if rank_zero_only.rank == 0:
    tl.track(key="ddp_train.py")

checkpoint = Checkpoint(dirpath="ckpts", monitor="val_loss", save_top_k=-1)
fit = trainer([checkpoint], max_epochs=2, strategy="ddp", devices=2)
fit.fit(TinyModel(losses=[2.0, 1.0]), TinyData())
print(f"rank {fit.global_rank} opened={_context._active_instance is not None}", flush=True)
