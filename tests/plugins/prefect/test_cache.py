"""threadline.prefect.CONTENT in real Prefect flows against the session's Prefect server:
a file rewritten behind the same path re-runs the task, where Prefect's INPUTS policy
reuses the stale result."""

from pathlib import Path

import threadline as tl
import threadline.prefect as tlp
from prefect import flow, task
from prefect.cache_policies import DEFAULT, INPUTS, TASK_SOURCE, CompoundCachePolicy

CALLS: list[str] = []


@task(cache_policy=tlp.CONTENT)
def count_by_content(path: Path) -> int:
    CALLS.append("content")
    return len(path.read_text())


@task(cache_policy=INPUTS + TASK_SOURCE)
def count_by_inputs(path: Path) -> int:
    CALLS.append("inputs")
    return len(path.read_text())


@task(cache_policy=tlp.CONTENT + INPUTS)
def count_by_both(path: Path) -> int:
    CALLS.append("both")
    return len(path.read_text())


@flow
def measure(path: Path) -> tuple[int, int, int]:
    return count_by_content(path), count_by_inputs(path), count_by_both(path)


@task(persist_result=True)  # Prefect's DEFAULT policy: INPUTS + TASK_SOURCE + RUN_ID
def count_by_default(path: Path) -> int:
    CALLS.append("default")
    return len(path.read_text())


@flow
def measure_twice(path: Path) -> tuple[int, int, int, int]:
    before = (count_by_default(path), count_by_content(path))
    path.write_text("rewritten with more characters")  # same path, new content
    return (*before, count_by_default(path), count_by_content(path))


def test_content_policy_reruns_on_new_content_where_inputs_reuses_stale(tracked, tmp_path):
    CALLS.clear()
    data = tmp_path / "reads.txt"
    data.write_text("ACGT")
    assert measure(data) == (4, 4, 4)
    assert measure(data) == (4, 4, 4)  # nothing changed: all three are cache hits
    assert CALLS == ["content", "inputs", "both"]
    data.write_text("ACGTACGT")  # different content behind the same path
    CALLS.clear()
    assert measure(data) == (8, 4, 8)  # INPUTS alone returns the stale result
    assert CALLS == ["content", "both"]


def test_default_policy_is_stale_inside_one_flow_run(tracked, tmp_path):
    CALLS.clear()
    data = tmp_path / "reads.txt"
    data.write_text("ACGT")
    assert measure_twice(data) == (4, 4, 4, 30)
    assert CALLS == ["default", "content", "content"]


def test_content_policy_composes_and_keys_artifacts(tracked, tmp_path):
    assert isinstance(tlp.CONTENT + TASK_SOURCE, CompoundCachePolicy)
    assert isinstance(DEFAULT + tlp.CONTENT, CompoundCachePolicy)
    calls = []

    @task(cache_policy=tlp.CONTENT + TASK_SOURCE)
    def size(artifact: tl.Artifact) -> int:
        calls.append(artifact.version)
        return int(artifact.size)

    @flow
    def sizes(key: str) -> int:
        return size(tl.Artifact.get(key=key))

    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    tl.Artifact(path, key="tables/t.csv").save()
    assert sizes("tables/t.csv") == 8 and sizes("tables/t.csv") == 8
    path.write_text("a,b\n1,2\n3,4\n")
    tl.Artifact(path, key="tables/t.csv").save()  # version 2: new content
    assert sizes("tables/t.csv") == 12
    assert calls == [1, 2]


def test_uncacheable_inputs_never_hit(tracked, tmp_path):
    calls = []

    @task(cache_policy=tlp.CONTENT + INPUTS)
    def opaque(thing: object, n: int) -> int:
        calls.append(n)
        return n

    @flow
    def twice() -> int:
        thing = object()  # no canonical form (Prefect's INPUTS can pickle it)
        return opaque(thing, 1) + opaque(thing, 1)

    assert twice() == 2 and calls == [1, 1]
