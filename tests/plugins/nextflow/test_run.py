"""``threadline nextflow run``, driven end to end by a fake ``nextflow`` on PATH."""

import json
import os
import sys
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main
from threadline.nextflow._run import with_config

from .conftest import WEBLOG

FAKE = Path(__file__).resolve().parent / "fake_nextflow.py"


@pytest.fixture
def fake_nextflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nextflow"
    script.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    script.chmod(0o755)
    monkeypatch.setenv(
        "FAKE_NEXTFLOW_CAPTURE", str(WEBLOG / ("nf-executor_nf23.04.2_mock_hello_full_run.json"))
    )
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return script


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, ["nextflow", *args], catch_exceptions=False)


def test_run_records_the_run_end_to_end(local_instance, fake_nextflow, isolated):
    result = invoke("run", "--json", "--", "run", "hello.nf", "-name", "happy_turing")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["returncode"], summary["events"], summary["run_name"]) == (
        0,
        11,
        "happy_turing",
    )
    workflow = tl.Run.get(uid=summary["workflow"])
    assert workflow.status == "completed" and workflow.params == {"greeting": "Hello world!"}
    tasks = {t.name: t for t in tl.Run.filter(parent=workflow)}
    assert len(tasks) == 3 and all(len(t.outputs) >= 1 for t in tasks.values())
    split = tasks["SPLITLETTERS (1)"]
    assert sorted(Path(a.cache()).read_text() for a in split.outputs) == ["Hello ", "world!"]
    for name in ("CONVERTTOUPPER (1)", "CONVERTTOUPPER (2)"):
        upper = tasks[name]
        assert [r.uid for r in upper.upstream_runs] == [split.uid]
        [read] = upper.inputs
        assert read.run.uid == split.uid  # the staged chunk is the split task's output
    assert split.features.get_values()["trace"]["duration_ms"] == 182  # from the raw trace


def test_run_passes_the_exit_status_through(local_instance, fake_nextflow, isolated, monkeypatch):
    monkeypatch.setenv("FAKE_NEXTFLOW_EXIT", "3")
    result = invoke("run", "--", "run", "hello.nf", "-name", "sad_turing")
    assert result.exit_code == 3
    assert tl.Run.get(reference__endswith="/sad_turing").status == "completed"


def test_run_without_nextflow_on_path(local_instance, isolated, monkeypatch):
    monkeypatch.setenv(
        "FAKE_NEXTFLOW_CAPTURE", str(WEBLOG / ("nf-executor_nf23.04.2_mock_hello_full_run.json"))
    )
    monkeypatch.setenv("PATH", str(isolated))
    result = CliRunner().invoke(main, ["nextflow", "run", "--", "run", "hello.nf"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: nextflow is not on PATH: install Nextflow "
        "(https://nextflow.io) or add its folder to PATH\n"
    )


def test_our_config_comes_after_the_users():
    assert with_config(["run", "x.nf"], "t.config") == ["-c", "t.config", "run", "x.nf"]
    assert with_config(["-c", "mine.config", "run", "x.nf", "-c", "late"], "t") == [
        "-c",
        "mine.config",
        "-c",
        "t",
        "run",
        "x.nf",
        "-c",
        "late",
    ]
