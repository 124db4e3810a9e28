"""OpenLineage events from real runs of each engine pass the official JSON schemas (the
spec's files in tests/fixtures/openlineage, resolved offline): Snakemake, Prefect,
PyTorch Lightning and Nextflow, each run here as its own tests run it."""

import importlib.util
from pathlib import Path

import pytest
import threadline as tl

from tests.core.test_export import validate


def has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def check_events(engine: str) -> list[dict]:
    events = tl.export.openlineage_events()
    ours = [e for e in events if e["job"]["facets"]["jobType"]["integration"] == engine]
    assert ours, f"no {engine} events"
    for event in events:
        validate(event)
    times = [e["eventTime"] for e in events]
    assert times == sorted(times)
    return ours


@pytest.mark.skipif(not has("snakemake"), reason="needs the snakemake extra")
def test_snakemake_events_pass_the_schemas(local_instance, tmp_path, monkeypatch):
    from tests.plugins.snakemake.conftest import copy_workflow, run_snakemake

    monkeypatch.setenv("THREADLINE_STRICT", "1")
    workdir = copy_workflow("three_rules", tmp_path)
    run_snakemake(workdir)
    events = check_events("SNAKEMAKE")
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    assert any(e["outputs"] for e in events)


@pytest.mark.skipif(not has("prefect", "prefect_dask"), reason="needs the prefect extra")
def test_prefect_events_pass_the_schemas(local_instance, isolated, monkeypatch):
    from tests.plugins.prefect.server import prefect_server

    monkeypatch.setenv("THREADLINE_STRICT", "1")
    with prefect_server():
        from tests.plugins.prefect.flows_basic import three_steps

        assert three_steps() == 6
    events = check_events("PREFECT")
    assert any("parent" in e["run"]["facets"] for e in events)  # tasks inside the flow


@pytest.mark.skipif(not has("lightning", "torch"), reason="needs the lightning extra")
def test_lightning_events_pass_the_schemas(local_instance, isolated, monkeypatch):
    from threadline.lightning import Checkpoint

    from tests.plugins.lightning.models import TinyData, TinyModel, trainer

    monkeypatch.setenv("THREADLINE_STRICT", "1")
    tl.track(key="train.py")
    trainer([Checkpoint(monitor="val_loss")], max_epochs=1).fit(TinyModel(), TinyData())
    tl.finish()
    events = tl.export.openlineage_events()
    for event in events:
        validate(event)
    assert any(e["outputs"] for e in events)  # the checkpoints, as datasets


def test_nextflow_events_pass_the_schemas(local_instance, isolated):
    from threadline.nextflow import ingest

    from tests.plugins.nextflow.synthetic import write_synthetic_trace

    launch = Path(isolated) / "launch"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / ".nextflow" / "history").write_text(
        "2026-01-01 09:00:00\t1h\tbench_run\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-bench\tnextflow run bench.nf\n"
    )
    write_synthetic_trace(launch / "trace.txt", 40)  # with failed, retried and cached tasks
    ingest(launch)
    events = check_events("NEXTFLOW")
    kinds = {e["eventType"] for e in events}
    assert {"START", "COMPLETE"} <= kinds
    failed = [e for e in events if e["eventType"] == "FAIL"]
    assert all(e["run"]["facets"]["errorMessage"]["message"] for e in failed)
