"""docs/install.md: ``python -m build`` makes a wheel that installs in a clean venv, where
the ``threadline`` command works and Snakemake discovers both threadline plugins.

The clean venv gets the wheel alone (``--no-deps``, nothing fetched); the engines it
needs to import come from this test environment's site-packages, added as a plain path
(so that environment's own editable threadline is not on it: its ``.pth`` is not read).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("build")
pytest.importorskip("snakemake_interface_logger_plugins")


def test_built_wheel_installs_in_a_clean_venv(tmp_path):
    source = tmp_path / "checkout"  # a copy: the build never writes into the work tree
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", ".git", "__pycache__"),
    )
    build = ["--wheel", "--no-isolation", "--skip-dependency-check", "--outdir", "dist"]
    subprocess.run(
        [sys.executable, "-m", "build", *build],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = (source / "dist").glob("threadline-*.whl")

    env_dir = tmp_path / "clean"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    install = ["install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install],
        check=True,
        capture_output=True,
    )
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("THREADLINE_", "PYTHON"))}
    env["THREADLINE_HOME"] = str(tmp_path / "home")
    check = (
        "import sys, threadline\n"
        "from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry\n"
        "from snakemake_interface_storage_plugins.registry import StoragePluginRegistry\n"
        "logger = LoggerPluginRegistry().get_plugin('threadline').log_handler\n"
        "storage = StoragePluginRegistry().get_plugin('threadline').storage_provider\n"
        "for found in (logger, storage):\n"
        "    print(sys.modules[found.__module__].__file__)\n"
        "print(threadline.__file__)\n"
    )
    done = subprocess.run(
        [str(python), "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert len(files) == 3 and all(f.startswith(str(site)) for f in files)  # the wheel's
    cli = subprocess.run(
        [str(env_dir / "bin" / "threadline"), "--help"], env=env, capture_output=True, text=True
    )
    assert cli.returncode == 0 and "lineage" in cli.stdout, cli.stderr
