"""The training script in plugins/lightning/README.md runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import threadline as tl

README = Path(__file__).resolve().parents[3] / "plugins" / "lightning" / "README.md"


def test_readme_training_script_runs(local_instance, isolated):
    script = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    Path("train.py").write_text(script)
    env = {**os.environ, "THREADLINE_STRICT": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "train.py"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    best = tl.Artifact.get(is_best_model=True)
    assert f"best {best.key} score=" in done.stdout
    assert tl.Artifact.filter(kind="model").count() == 2
    assert tl.Run.get(transform__key="train.py").features.get_values()["lr"] == 0.05
