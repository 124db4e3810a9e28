"""Examples of docs/tracking.md, run for real (scripts in subprocesses, as users run them)."""

import os
import shutil
import subprocess
import sys

import pytest
import threadline as tl

from tests.harness import write

TRACK_SCRIPT = r"""
# -- start track-script --
from pathlib import Path

import threadline as tl

tl.track(params={"min_quality": 30})

reads = tl.Artifact.get(key="raw/reads.fasta")
n_reads = reads.load().count(">")  # read inside the run: recorded as an input
Path("counts.txt").write_text(f"{n_reads}\n")
tl.Artifact("counts.txt", key="qc/counts.txt").save()  # an output of the run

tl.finish()
# -- end track-script --
"""

CHILD_SCRIPT = r"""
# -- start child-script --
import sys
from pathlib import Path

import threadline as tl

tl.track(params={"sample": sys.argv[1]})  # parent: the run in THREADLINE_PARENT_RUN
Path(f"{sys.argv[1]}.txt").write_text("assembled\n")
tl.Artifact(f"{sys.argv[1]}.txt", key=f"assemblies/{sys.argv[1]}.txt").save()
tl.finish()
# -- end child-script --
"""


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_track_script(local_instance, isolated):
    tl.Artifact(write("reads.fasta", ">r1\nACGT\n>r2\nGG\n"), key="raw/reads.fasta").save()
    write("qc.py", TRACK_SCRIPT)
    git("init", "-q", ".")
    git("add", "qc.py")
    git("commit", "-q", "-m", "qc script")
    done = subprocess.run(
        [sys.executable, "qc.py"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    run = tl.Run.get(transform__key="qc.py")
    assert run.status == "completed" and run.finished_at is not None
    assert run.transform.kind == "script" and "tl.track(params=" in run.transform.source
    assert run.params == {"min_quality": 30}
    assert [a.key for a in run.inputs] == ["raw/reads.fasta"]
    assert [a.key for a in run.outputs] == ["qc/counts.txt"]
    assert tl.Artifact.get(key="qc/counts.txt").load() == "2\n"
    assert run.git_commit == git("rev-parse", "HEAD") and run.git_dirty is False
    assert run.environment.python == ".".join(map(str, sys.version_info[:3]))
    assert any(p.startswith("peewee==") for p in run.environment.packages)
    assert run.hostname and run.engine == "python"


def test_track_in_process(local_instance, isolated):
    run = tl.track(params={"n": 1}, key="notebooks/explore.ipynb")
    try:
        assert tl.context.run is run
        with pytest.raises(tl.errors.TrackingError, match="already tracking"):
            tl.track()
    finally:
        finished = tl.finish()
    assert finished.status == "completed" and tl.context.run is None
    with pytest.raises(tl.errors.TrackingError, match="no run to finish"):
        tl.finish()


def test_flow_and_step(local_instance, isolated):
    write("reads.fasta", ">r1\nACGTACGT\n>r2\nAC\n")
    tl.Artifact("reads.fasta", key="raw/reads.fasta").save()
    # -- start flow-step --
    from pathlib import Path

    @tl.step()
    def trim(reads: tl.Artifact, min_length: int = 50) -> tl.Artifact:
        lines = reads.load().splitlines()
        pairs = zip(lines[::2], lines[1::2], strict=True)
        kept = "".join(f"{n}\n{s}\n" for n, s in pairs if len(s) >= min_length)
        Path("trimmed.fasta").write_text(kept)
        return tl.Artifact("trimmed.fasta", key="trimmed/reads.fasta").save()

    @tl.flow("preprocess")
    def preprocess(reads: tl.Artifact, min_length: int = 50) -> tl.Artifact:
        return trim(reads, min_length=min_length)

    trimmed = preprocess(tl.Artifact.get(key="raw/reads.fasta"), min_length=4)

    step_run = trimmed.run  # the run that saved it: trim's
    assert step_run.transform.kind == "step" and step_run.status == "completed"
    assert step_run.params == {"reads": "Artifact(raw/reads.fasta)", "min_length": 4}
    assert [a.key for a in step_run.inputs] == ["raw/reads.fasta"]
    assert step_run.parent.transform.key == "preprocess"
    # -- end flow-step --
    assert trimmed.load() == ">r1\nACGTACGT\n"
    assert step_run.transform.key.endswith("trim")
    assert step_run.parent.params == {"reads": "Artifact(raw/reads.fasta)", "min_length": 4}
    # calling again reuses both transforms: one version each
    preprocess(tl.Artifact.get(key="raw/reads.fasta"), min_length=4)
    assert tl.Transform.filter(key="preprocess").count() == 1
    assert tl.Run.filter(transform__key="preprocess").count() == 2


def test_flow_errors(local_instance, isolated):
    # -- start flow-error --
    @tl.flow("align")
    def align(sample: str) -> None:
        raise RuntimeError(f"no reads for {sample}")

    try:
        align("S9")
    except RuntimeError as err:  # the exception propagates as usual
        print(f"failed: {err}")

    failed = tl.Run.filter(transform__key="align").first()
    assert failed.status == "errored"
    assert failed.error == "RuntimeError: no reads for S9"
    assert "raise RuntimeError" in failed.traceback
    # -- end flow-error --
    assert failed.finished_at is not None


def test_params_and_secrets(local_instance, isolated):
    # -- start flow-secrets --
    @tl.flow("download")
    def download(url: str, api_key: str, retries: int = 3) -> None: ...

    download("https://alice:s3cret@data.example.org/reads.fastq", api_key="abc123")

    run = tl.Run.filter(transform__key="download").first()
    assert run.params == {
        "url": "https://alice:***@data.example.org/reads.fastq",
        "api_key": "***",
        "retries": 3,
    }
    # -- end flow-secrets --


def test_threads(local_instance, isolated):
    # -- start flow-threads --
    from concurrent.futures import ThreadPoolExecutor

    @tl.step("count")
    def count(sample: str) -> int:
        return len(sample)

    @tl.flow("count-all")
    def count_all(samples: list[str]) -> list[int]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(count, samples))

    count_all(["S1", "S2", "S3"])
    flow_run = tl.Run.get(transform__key="count-all")
    assert sorted(r.params["sample"] for r in flow_run.children) == ["S1", "S2", "S3"]
    # -- end flow-threads --
    assert all(r.transform.key == "count" for r in flow_run.children)


def test_asyncio(local_instance, isolated):
    # -- start flow-asyncio --
    import asyncio

    @tl.step("fetch")
    async def fetch(sample: str) -> str:
        await asyncio.sleep(0.01)
        return sample.lower()

    @tl.flow("fetch-all")
    async def fetch_all(samples: list[str]) -> list[str]:
        return await asyncio.gather(*(fetch(s) for s in samples))

    assert asyncio.run(fetch_all(["S1", "S2"])) == ["s1", "s2"]
    flow_run = tl.Run.get(transform__key="fetch-all")
    assert len(flow_run.children) == 2 and flow_run.status == "completed"
    # -- end flow-asyncio --
    assert asyncio is not None
    assert {r.status for r in flow_run.children} == {"completed"}


def test_context(local_instance, isolated):
    # -- start context --
    @tl.step("where")
    def where() -> str:
        return f"{tl.context.transform.key} in run {tl.context.run.uid}"

    assert where().startswith("where in run ")
    assert tl.context.run is None  # nothing is tracked out here
    # -- end context --


def test_child_process(local_instance, isolated):
    write("assemble.py", CHILD_SCRIPT)
    # -- start child-process --
    import os
    import subprocess
    import sys

    @tl.flow("assemble-all")
    def assemble_all(samples: list[str]) -> None:
        env = {**os.environ, **tl.adapters.child_environment()}  # instance + this run
        for sample in samples:
            subprocess.run([sys.executable, "assemble.py", sample], env=env, check=True)

    assemble_all(["S1", "S2"])
    flow_run = tl.Run.get(transform__key="assemble-all")
    assert sorted(r.params["sample"] for r in flow_run.children) == ["S1", "S2"]
    # -- end child-process --
    assert os.environ.get("THREADLINE_PARENT_RUN") is None
    assert subprocess is not None and sys is not None
    s1 = tl.Artifact.get(key="assemblies/S1.txt")
    assert s1.run.parent.uid == flow_run.uid and s1.run.transform.key == "assemble.py"


def test_track_exports_environment(local_instance, isolated):
    run = tl.track(key="scripts/export.py")
    try:
        assert os.environ["THREADLINE_PARENT_RUN"] == run.uid
        assert os.environ["THREADLINE_DB"] == tl.instance().settings.db
    finally:
        tl.finish()
    assert "THREADLINE_PARENT_RUN" not in os.environ
