"""A plain (non-editable) wheel holds the core, the plugin homes and the CLI, and works."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("threadline-*.whl")
    return found


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "threadline/__init__.py",
        "threadline/models/artifact.py",
        "threadline/storage/local.py",
        "threadline/cli/__init__.py",
        "threadline/py.typed",
        "threadline/prefect/__init__.py",
        "threadline/snakemake/__init__.py",
        "threadline/lightning/__init__.py",
        "threadline/mlflow/__init__.py",
        "threadline/nextflow/__init__.py",
    ):
        assert module in names, module
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "threadline = threadline.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "bench/", "core/")) for n in names)


def test_installed_wheel_works(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import threadline as tl, pathlib; "
        f"assert pathlib.Path(tl.__file__).parent.parent == pathlib.Path({str(target)!r}); "
        "p = pathlib.Path('f.txt'); p.write_text('x'); "
        "a = tl.Artifact(p, key='w/f.txt').save(); print(a.version, a.load())"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "THREADLINE_HOME": str(tmp_path / "home"),
        "THREADLINE_CACHE_DIR": str(tmp_path / "cache"),
    }
    for name in ("THREADLINE_DB", "THREADLINE_STORAGE"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["1", "x"]
    cli = subprocess.run(
        [sys.executable, "-c", "from threadline.cli import main; main()", "ls", "w/"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and "w/f.txt" in cli.stdout
