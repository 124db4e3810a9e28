"""The logger handler as Snakemake's interface suite sees it, and its guarantee: a
threadline failure never fails the workflow."""

import logging
from pathlib import Path
from typing import Any

import pytest
import threadline as tl
from snakemake_interface_logger_plugins.tests import TestLogHandlerBase
from threadline.snakemake import LogHandler, LogHandlerSettings

from tests.plugins.snakemake.conftest import run_snakemake


class TestThreadlineLogHandler(TestLogHandlerBase):
    """Snakemake's conformance suite: properties, and every event type fed in isolation
    (out of order, with minimal fields) without raising."""

    __test__ = True

    @pytest.fixture(autouse=True)
    def _instance(self, local_instance: Any) -> None:
        pass

    def get_log_handler_cls(self) -> type[LogHandler]:
        return LogHandler

    def get_log_handler_settings(self) -> LogHandlerSettings:
        return LogHandlerSettings()

    def test_properties(self) -> None:
        handler = self._create_handler()
        assert (handler.writes_to_stream, handler.writes_to_file) == (False, False)
        assert handler.has_filter and not handler.needs_rulegraph

    def test_events_without_a_workflow_record_nothing(self) -> None:
        from snakemake_interface_logger_plugins.common import LogEvent

        handler = self._create_handler()
        handler.emit(self._create_event_record(LogEvent.JOB_FINISHED, job_id=3))
        handler.close()
        assert handler.failures == [] and tl.Run.filter().count() == 0


def test_logger_failure_does_not_fail_snakemake(
    three_rules: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """An unusable database (a real one: nothing listens on port 1) costs the record,
    not the workflow: Snakemake finishes and the failure is logged once, loudly."""
    monkeypatch.delenv("THREADLINE_STRICT")
    settings = LogHandlerSettings(
        db="postgresql://nobody@127.0.0.1:1/none", storage=str(three_rules / "store")
    )
    with caplog.at_level(logging.ERROR, logger="threadline.snakemake"):
        handlers = run_snakemake(three_rules, settings=settings)
    assert (three_rules / "results" / "combined.txt").read_text() == "ALPHA\nBETA\nGAMMA\n"
    assert handlers[0].failures and "workflow_started" in handlers[0].failures[0]
    messages = [r.getMessage() for r in caplog.records if r.name == "threadline.snakemake"]
    assert len(messages) == len(set(handlers[0].failures))  # once per kind of failure
    assert all("the workflow is not affected" in m for m in messages)


def test_snakemake_outputs_feed_a_threadline_flow(three_rules: Path):
    """A file a Snakemake job wrote, read later by ``@tl.flow``: one lineage graph."""
    run_snakemake(three_rules)

    @tl.flow("shout")
    def shout(table: tl.Artifact) -> tl.Artifact:
        Path("report.md").write_text(Path(table.cache()).read_text().replace("\n", "!\n"))
        return tl.Artifact("report.md", key="reports/shout.md").save()

    report = shout(tl.Artifact.get(key="results/combined.txt"))
    up = tl.lineage.upstream(report)
    assert {a.key for a in up.artifacts} >= {
        "results/combined.txt",
        "results/A.txt",
        "results/B.txt",
    }
    assert {r.transform.key for r in up.runs} >= {"shout", "Snakefile/combine", "Snakefile/make"}
    raw = next(a for a in up.artifacts if a.key == "raw/A.txt")  # a source, by its path
    assert report.uid in {a.uid for a in tl.lineage.downstream(raw).artifacts}


def test_a_clashing_feature_costs_the_annotation_not_the_record(
    three_rules: Path, caplog: pytest.LogCaptureFixture
):
    tl.Feature(name="sample", dtype="int").save()  # the wildcard's values are strings
    with caplog.at_level(logging.WARNING, logger="threadline.snakemake"):
        handlers = run_snakemake(three_rules)
    assert handlers[0].failures == []
    assert any("features not recorded" in r.getMessage() for r in caplog.records)
    made = tl.Artifact.get(key="results/A.txt")
    assert made.run.name == "make (sample=A)" and made.run.status == "completed"
    assert tl.Run.get(engine="snakemake", parent=None).status == "completed"
