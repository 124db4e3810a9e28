"""Fixtures of the Nextflow adapter's tests: real Nextflow output, copied per test."""

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACES = FIXTURES / "trace"
LAUNCHDIR = FIXTURES / "launchdir_hello-nextflow_nf22.04.0"
STORE = FIXTURES / "lineage" / "store_training_sidequest_nf26.04.3" / ".lineage"
FLAT = FIXTURES / "lineage" / "docs_rnaseq-nf_nf25.04.0"
WEBLOG = FIXTURES / "weblog"


@pytest.fixture
def launchdir(tmp_path: Path) -> Path:
    """A writable copy of the real 22.04.0 launch directory (history, log, 2 work dirs)."""
    target = tmp_path / "launch"
    shutil.copytree(LAUNCHDIR, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target
