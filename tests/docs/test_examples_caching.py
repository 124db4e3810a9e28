"""Examples of docs/caching.md, run for real (the Prefect one against the test server)."""

from collections.abc import Iterator

import pytest
import threadline as tl


def test_step_cache(local_instance, isolated):
    (isolated / "reads.fasta").write_text(">r1\nACGTACGT\n>r2\nAC\n")
    # -- start cache-step --
    from pathlib import Path

    calls = []

    @tl.step(cache=True)
    def keep_long(reads: Path, min_length: int = 4) -> tl.Artifact:
        calls.append(min_length)
        lines = reads.read_text().splitlines()
        pairs = zip(lines[::2], lines[1::2], strict=True)
        kept = "".join(f"{n}\n{s}\n" for n, s in pairs if len(s) >= min_length)
        Path("long.fasta").write_text(kept)
        return tl.Artifact("long.fasta", key="clean/reads.fasta").save()

    first = keep_long(Path("reads.fasta"))
    again = keep_long(Path("reads.fasta"))  # same code, parameters and content: reused
    assert calls == [4] and again.uid == first.uid

    reused = tl.Run.filter(status="cached").first()
    assert reused.cached_from.uid == first.run.uid  # points to the run it reuses
    assert [a.key for a in reused.inputs] == [a.key for a in first.run.inputs]

    Path("reads.fasta").write_text(">r1\nACGTACGTAA\n")  # new content, same path
    keep_long(Path("reads.fasta"))
    keep_long(Path("reads.fasta"), min_length=2)
    notes = [r.cache_note for r in tl.Run.filter(status="completed").order_by("id")]
    assert notes[1:] == ["input 'reads' changed", "parameter 'min_length' changed"]
    # -- end cache-step --
    assert calls == [4, 4, 2]


def test_cache_controls(local_instance, isolated):
    # -- start cache-controls --
    @tl.step("summarize", cache="refresh")  # always runs, and records a fresh entry
    def summarize(n: int) -> int:
        return n * 2

    summarize(21)
    entries = tl.caching.entries(transform="summarize")
    assert [e.run.status for e in entries] == ["completed"]
    assert tl.caching.clear(transform="summarize") == 1  # the next call runs again
    # -- end cache-controls --


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    pytest.importorskip("prefect")
    from tests.plugins.prefect.server import prefect_server  # shared with tests/plugins

    with prefect_server():
        yield


def test_prefect_content_policy(prefect_api, local_instance, isolated):
    # -- start cache-prefect --
    from pathlib import Path

    from prefect import flow, task
    from prefect.cache_policies import INPUTS, TASK_SOURCE
    from threadline.prefect import CONTENT

    @task(cache_policy=CONTENT + TASK_SOURCE)
    def count_lines(path: Path) -> int:
        return len(path.read_text().splitlines())

    @task(cache_policy=INPUTS + TASK_SOURCE)  # Prefect's way: the path, not the file
    def count_lines_by_path(path: Path) -> int:
        return len(path.read_text().splitlines())

    @flow
    def report(path: Path) -> tuple[int, int]:
        return count_lines(path), count_lines_by_path(path)

    Path("samples.txt").write_text("S1\nS2\n")
    assert report(Path("samples.txt")) == (2, 2)
    Path("samples.txt").write_text("S1\nS2\nS3\n")  # rewritten behind the same path
    assert report(Path("samples.txt")) == (3, 2)  # INPUTS returns the stale result
    # -- end cache-prefect --
