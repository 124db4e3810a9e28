"""One "machine" of the team test: Lightning DDP on two CPU processes (gloo).

Lightning starts rank 1 by running this script again; rank zero tracks the run, reads the
shared input from threadline (an input of the run) and records the checkpoints.
"""

import sys
from pathlib import Path

import threadline as tl
from lightning.pytorch.utilities import rank_zero_only
from threadline.lightning import Checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.plugins.lightning.models import TinyData, TinyModel, trainer

if rank_zero_only.rank == 0:
    tl.track(key="team/ddp_train.py")
    tl.Artifact.get(key="team/input.csv").cache()  # read: an input of this run

checkpoint = Checkpoint(dirpath="ckpts", monitor="val_loss", save_top_k=-1)
fit = trainer([checkpoint], max_epochs=2, strategy="ddp", devices=2)
fit.fit(TinyModel(losses=[2.0, 1.0]), TinyData())
if rank_zero_only.rank == 0:
    tl.finish()
