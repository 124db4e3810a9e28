"""Examples of docs/prefect.md, run against a real Prefect API server."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import threadline as tl

from tests.plugins.prefect.sockets import leaves_prefects_socket_open

prefect = pytest.importorskip("prefect")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    from tests.plugins.prefect.server import prefect_server  # shared with tests/plugins

    with prefect_server():
        yield


@pytest.fixture
def tracked(prefect_api, local_instance, monkeypatch):
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    return local_instance


def test_quickstart(tracked):
    # -- start prefect-quickstart --
    from pathlib import Path

    from threadline.prefect import flow, task

    @task
    def download(sample: str) -> Path:
        path = Path("raw") / f"{sample}.fastq"
        path.parent.mkdir(exist_ok=True)
        path.write_text("@r1\nACGT\n+\nIIII\n")
        return path  # an existing path: saved as an output, key "raw/S1.fastq"

    @task
    def count_reads(fastq: Path) -> int:  # a path argument: linked as an input
        return fastq.read_text().count("@")

    @flow(name="qc")
    def qc(sample: str, api_token: str) -> int:
        return count_reads(download(sample))

    assert qc("S1", api_token="s3cr3t") == 1

    flow_run = tl.Run.get(transform__key="qc")
    assert flow_run.status == "completed" and flow_run.params == {
        "sample": "S1",
        "api_token": "***",
    }
    download_run, count_run = sorted(flow_run.children, key=lambda r: r.started_at)
    assert download_run.transform.key == "qc/download"
    assert tl.Artifact.get(key="raw/S1.fastq").run.uid == download_run.uid
    assert [a.key for a in count_run.inputs] == ["raw/S1.fastq"]
    assert [r.uid for r in count_run.upstream_runs] == [download_run.uid]
    # -- end prefect-quickstart --


def test_outputs(tracked):
    # -- start prefect-outputs --
    import pandas as pd
    from threadline.prefect import flow, task

    @task(key_template="reports/{params[sample]}/{name}", features={"stage": "qc"})
    def report(sample: str) -> dict[str, Path]:
        Path(f"{sample}.html").write_text("<h1>QC</h1>")
        Path(f"{sample}.json").write_text("{}")
        return {"html": Path(f"{sample}.html"), "json": Path(f"{sample}.json")}

    @task(save_result=True)  # a returned DataFrame is saved as parquet
    def metrics(sample: str) -> pd.DataFrame:
        return pd.DataFrame({"sample": [sample], "reads": [1200]})

    @task
    def summary(sample: str) -> tl.Artifact:
        Path("summary.txt").write_text(f"{sample}: ok\n")
        return tl.Artifact("summary.txt", key=f"summaries/{sample}.txt").save()

    @flow(name="reports")
    def reports(sample: str) -> None:
        report(sample), metrics(sample), summary(sample)

    reports("S1")
    html = tl.Artifact.get(key="reports/S1/S1.html")
    assert html.run.transform.key == "reports/report"
    assert html.features.get_values() == {"stage": "qc"}
    table = tl.Artifact.get(key="reports/metrics.parquet")  # <flow>/<task>.parquet
    assert table.otype == "DataFrame" and table.load()["reads"].tolist() == [1200]
    assert tl.Artifact.get(key="summaries/S1.txt").run.transform.key == "reports/summary"

    reports("S1")  # the same content again: new runs, no new artifact versions
    assert tl.Run.filter(transform__key="reports/report").count() == 2
    assert [a.version for a in html.versions] == [1]
    # -- end prefect-outputs --


def test_inputs(tracked):
    Path("reference.fa").write_text(">chr1\nACGT\n")
    tl.Artifact("reference.fa", key="genomes/ref.fa").save()
    Path("copy.fa").write_text(">chr1\nACGT\n")
    # -- start prefect-inputs --
    from threadline.prefect import flow, task

    @task
    def align(genome: tl.Artifact, reads: str, out_dir: str) -> str:
        return f"aligned {reads} to {genome.key}"

    @task(track_inputs=["genome"])  # only this argument is looked at
    def index(genome: str, out_dir: str) -> None: ...

    @flow(name="align")
    def align_flow() -> None:
        Path("S1.fastq").write_text("@r1\nACGT\n+\nIIII\n")
        align(tl.Artifact.get(key="genomes/ref.fa"), "S1.fastq", out_dir="results")
        index("copy.fa", out_dir=".")  # same bytes as genomes/ref.fa: found by content

    align_flow()
    align_run = tl.Run.get(transform__key="align/align")
    assert sorted(str(a.key) for a in align_run.inputs) == ["S1.fastq", "genomes/ref.fa"]
    index_run = tl.Run.get(transform__key="align/index")
    assert [a.key for a in index_run.inputs] == ["genomes/ref.fa"]
    # -- end prefect-inputs --


def test_failures_and_retries(tracked):
    # -- start prefect-states --
    from threadline.prefect import flow, task

    attempts = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("server busy")
        return "ok"

    @task
    def broken(sample: str) -> None:
        raise ValueError(f"bad sample {sample}")

    @flow(name="states")
    def states() -> None:
        flaky()
        broken("S9")

    with pytest.raises(ValueError, match="bad sample S9"):
        states()

    retried = tl.Run.get(transform__key="states/flaky")  # one run for both attempts
    assert retried.status == "completed" and retried.features.get_values() == {"attempt": 2}
    failed = tl.Run.get(transform__key="states/broken")
    assert failed.status == "errored" and failed.error == "ValueError: bad sample S9"
    assert "raise ValueError" in failed.traceback
    assert tl.Run.get(transform__key="states").status == "errored"
    # -- end prefect-states --


def test_instrument(tracked):
    # -- start prefect-instrument --
    import prefect
    from threadline.prefect import instrument

    @prefect.task
    def square(x: int) -> int:
        return x * x

    @prefect.flow(name="squares")
    def squares(n: int) -> int:
        return sum(square.map(range(n)).result())

    instrument(square)  # changed in place: the flow's body calls the same object
    instrument(squares)
    assert squares(4) == 14

    flow_run = tl.Run.get(transform__key="squares")
    assert sorted(r.params["x"] for r in flow_run.children) == [0, 1, 2, 3]
    # -- end prefect-instrument --


@leaves_prefects_socket_open  # Prefect's own, see sockets.py
def test_subflows_and_async(tracked):
    # -- start prefect-subflows --
    import asyncio

    from threadline.prefect import flow, task

    @task
    async def fetch(sample: str) -> str:
        await asyncio.sleep(0)
        return sample.lower()

    @flow(name="fetch-one")
    async def fetch_one(sample: str) -> str:
        return await fetch(sample)

    @flow(name="fetch-all")
    async def fetch_all(samples: list[str]) -> list[str]:
        return await asyncio.gather(*(fetch_one(s) for s in samples))

    assert asyncio.run(fetch_all(["S1", "S2"])) == ["s1", "s2"]

    outer = tl.Run.get(transform__key="fetch-all")
    assert sorted(r.transform.key for r in outer.children) == ["fetch-one", "fetch-one"]
    assert all(r.children[0].transform.key == "fetch-one/fetch" for r in outer.children)
    # -- end prefect-subflows --


def test_dask(tracked):
    # -- start prefect-dask --
    import os

    from prefect_dask import DaskTaskRunner
    from threadline.prefect import flow, task

    @task
    def write_part(i: int) -> str:  # runs in a Dask worker process
        Path(f"part-{i}.txt").write_text(f"{i} from {os.getpid()}\n")
        return f"part-{i}.txt"

    runner = DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "processes": True,
            "threads_per_worker": 1,
            "dashboard_address": None,
        }
    )

    @flow(name="parts", task_runner=runner)
    def parts(n: int) -> list[str]:
        return write_part.map(range(n)).result()

    assert parts(3) == ["part-0.txt", "part-1.txt", "part-2.txt"]
    flow_run = tl.Run.get(transform__key="parts")
    assert [a.run.parent.uid for a in tl.Artifact.filter(key__startswith="part-")] == [
        flow_run.uid
    ] * 3
    # -- end prefect-dask --
