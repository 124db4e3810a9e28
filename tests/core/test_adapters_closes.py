"""Closes of written runs queued on the writer, written many at a time
(``_closes.update_many``, the writer's ``bulk`` for closes), on SQLite and PostgreSQL.
The writer is held (``linger_s``) so the closes of a test surely fall in one batch."""

import pytest
import threadline as tl
from threadline import adapters

from tests.core.test_adapters_deferred_bulk import is_postgres, refuse, run_statements
from tests.sql_log import recorded_sql

pytestmark = pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def held(monkeypatch):
    """The process's writer, lingering until a ``flush``."""
    writer = adapters.writer()
    writer.flush()
    monkeypatch.setattr(writer, "linger_s", 600.0)
    monkeypatch.setattr(writer, "quiet_s", 600.0)  # and does not end it when no job comes
    return writer


def written(key: str, n: int) -> list[tl.Run]:
    """``n`` runs started later whose rows are written (committed) already."""
    runs = [adapters.start_run(key, "task", source="echo", later=True) for _ in range(n)]
    adapters.writer().flush()
    assert all(run.id is not None for run in runs)
    return runs


def test_a_batch_of_closes_is_one_update_per_set_of_columns(db_instance, held):
    """Thirty closes of three kinds (completed; errored with an error; aborted with an
    error and a traceback): three UPDATEs, and every row as its own close sets it."""
    runs = written("closes/task", 30)
    for i, run in enumerate(runs):
        if i % 3 == 0:
            adapters.finish_run(run, "completed", later=True)
        elif i % 3 == 1:
            adapters.finish_run(run, "errored", error=f"boom {i}: password=hunter2", later=True)
        else:
            adapters.finish_run(run, "aborted", error="gone", traceback=f"tb {i}", later=True)

    with recorded_sql() as statements:
        held.flush()

    assert len(run_statements(statements, "UPDATE")) == 3
    rows = {r.id: r for r in tl.Run.filter(transform__key="closes/task").all()}
    for i, run in enumerate(runs):
        row = rows[run.id]
        assert (row.status, row.finished_at) == (run.status, run.finished_at)
        assert row.status == ("completed", "errored", "aborted")[i % 3]
        assert row.error == (None, f"boom {i}: password=***", "gone")[i % 3]
        assert row.traceback == (None, None, f"tb {i}")[i % 3]
        assert row.name is None and row.started_at == run.started_at  # nothing else moved


def test_closes_it_cannot_write_are_written_by_their_jobs(db_instance, held):
    """A close with fields of its own, and one whose row is queued in the same batch
    (not yet committed: its id may still change), are left to their own UPDATEs; the
    others of the batch still go together."""
    plain = written("closes/plain", 5)
    extra = written("closes/extra", 1)[0]
    queued = adapters.start_run("closes/queued", "task", source="echo", later=True)
    for run in plain:
        adapters.finish_run(run, "completed", later=True)
    adapters.finish_run(extra, "completed", later=True, cache_note="from cache")
    adapters.finish_run(queued, "errored", error="late", later=True, cache_note="x")

    with recorded_sql() as statements:
        held.flush()

    assert len(run_statements(statements, "UPDATE")) == 3  # the five, extra, queued
    assert {r.status for r in tl.Run.filter(transform__key="closes/plain").all()} == {"completed"}
    assert tl.Run.get(uid=extra.uid).cache_note == "from cache"
    row = tl.Run.get(uid=queued.uid)
    assert (row.id, row.status, row.error, row.cache_note) == (queued.id, "errored", "late", "x")


def test_one_refused_close_of_a_bulk_batch_is_lost_alone(db_instance, held):
    """A real trigger refuses one of eight closes: the batch's UPDATE fails, the closes
    are written one by one, the seven others are there, and the failure counts once."""
    runs = written("closes/refused", 8)
    refuse("UPDATE", is_postgres(), when="NEW.error = 'refuse me'")
    for i, run in enumerate(runs):
        adapters.finish_run(run, "errored", error="refuse me" if i == 3 else "fine", later=True)
    failures = len(held.failures)

    held.flush()

    assert len(held.failures) == failures + 1
    assert "run UPDATE refused" in str(held.failures[-1])
    rows = {r.id: r for r in tl.Run.filter(transform__key="closes/refused").all()}
    assert [rows[r.id].status for r in runs] == ["errored"] * 3 + ["started"] + ["errored"] * 4
