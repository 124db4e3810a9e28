"""DDP on two CPU processes: only global rank zero writes to the database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import threadline as tl

SCRIPT = Path(__file__).resolve().parent / "ddp_train.py"


@pytest.mark.slow
def test_ddp_rank_zero_writes_once(local_instance, isolated):
    env = {**os.environ, "THREADLINE_STRICT": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("THREADLINE_PARENT_RUN", None)  # the instance comes from THREADLINE_DB/STORAGE
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "rank 0 opened=True" in output and "rank 1 opened=False" in output
    assert "Traceback" not in output and "threadline:" not in output.replace(
        "threadline: save_last", ""
    )
    files = sorted(p.name for p in Path("ckpts").rglob("*.ckpt"))
    run = tl.Run.get(transform__key="ddp_train.py")
    keys = sorted(a.key.rsplit("/", 1)[1] for a in tl.Artifact.filter(kind="model"))
    assert files == keys == ["epoch=0-step=1.ckpt", "epoch=1-step=2.ckpt"]
    assert all(a.run_id == run.id for a in tl.Artifact.filter(kind="model"))
    assert tl.Run.filter().count() == 1  # rank 1 tracked nothing
