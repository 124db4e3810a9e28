"""Large runs: synthetic traces written in the real formats, parsed and ingested."""

import dataclasses
import os
import subprocess
import sys
import time

import peewee
import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import TraceError
from threadline.nextflow import _trace, ingest, parse_duration, parse_memory, read_trace
from threadline.nextflow._tasks import from_trace, tasks_from_trace

from .conftest import TRACES
from .synthetic import (
    DEFAULT_FIELDS,
    format_duration,
    format_memory,
    write_synthetic_trace,
)


@pytest.mark.parametrize(
    "ms, text",
    [
        (213, "213ms"),
        (1800, "1.8s"),
        (14000, "14s"),
        (259000, "4m 19s"),
        (16879000, "4h 41m 19s"),
        (180000, "3m"),
        (93600000, "1d 2h"),
    ],
)
def test_duration_format_matches_the_real_files(ms, text):
    assert format_duration(ms) == text and parse_duration(text) == ms


@pytest.mark.parametrize(
    "size, text", [(0, "0"), (468, "468 B"), (103 * 1024**2, "103 MB"), (3250586, "3.1 MB")]
)
def test_memory_format_matches_the_real_files(size, text):
    assert format_memory(size) == text
    assert abs(parse_memory(text) - size) <= size * 0.05


def test_synthetic_header_is_the_real_default_header():
    real = (TRACES / "nf-executor" / "job-success-no-retries.txt").read_text().splitlines()[0]
    assert tuple(real.split("\t")) == DEFAULT_FIELDS


def test_100k_task_trace_parses(tmp_path):
    rows = write_synthetic_trace(tmp_path / "trace.txt", 100_000)
    parsed = read_trace(tmp_path / "trace.txt")
    assert len(parsed) == rows == 105_000  # every 20th task failed once and was retried
    assert sum(r.get("status") == "CACHED" for r in parsed) == 100_000 // 7
    assert all(r.get("realtime") is not None for r in parsed[:1000])


@pytest.mark.parametrize("raw", [False, True], ids=["default", "raw"])
def test_synthetic_run_ingests(local_instance, tmp_path, raw):
    (tmp_path / ".nextflow").mkdir()
    (tmp_path / ".nextflow" / "history").write_text(
        "2026-01-01 09:00:00\t1h\tbig_run\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-big\tnextflow run big.nf\n"
    )
    rows = write_synthetic_trace(tmp_path / "trace.txt", 1000, raw=raw)
    ticks: list[tuple[int, int]] = []
    result = ingest(tmp_path, progress=lambda done, total: ticks.append((done, total)))
    assert (result.tasks, result.cached) == (rows, 1000 // 7)
    assert ticks[0] == (1, rows) and ticks[-1] == (rows, rows) and len(ticks) == rows
    workflow = tl.Run.get(uid=result.workflow)
    assert tl.Run.filter(parent=workflow, status="errored").count() == 1000 // 20
    attempts = sum(1 + (i % 20 == 19) for i in range(1000) if i % 12 == 3)
    assert tl.Run.filter(process="PROCESS_3").count() == attempts == 101
    assert tl.Run.filter(trace__peak_rss__gt=0).count() > 800


def _launch_dir(folder, run_name="big_run"):
    (folder / ".nextflow").mkdir()
    (folder / ".nextflow" / "history").write_text(
        f"2026-01-01 09:00:00\t1h\t{run_name}\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-big\tnextflow run big.nf\n"
    )


def test_tasks_whose_short_hashes_collide_are_separate_runs(local_instance, tmp_path):
    """A trace names tasks by 8 hex digits; in 100,000 tasks two of them share some."""
    _launch_dir(tmp_path)
    real = (TRACES / "nf-executor" / "job-success-no-retries.txt").read_text().splitlines()
    rows = [line.split("\t") for line in real[1:]]
    rows[1][1] = rows[0][1]  # the second task gets the first one's short hash
    (tmp_path / "trace.txt").write_text("\n".join([real[0], *map("\t".join, rows)]) + "\n")
    result = ingest(tmp_path)
    assert result.tasks == len(rows)
    twins = tl.Run.filter(trace__hash=rows[0][1]).order_by("id")
    assert [r.name for r in twins] == [rows[0][3], rows[1][3]]
    assert [r.reference for r in twins] == [
        f"{rows[0][1]}#{rows[0][0]}",
        f"{rows[1][1]}#{rows[1][0]}",
    ]
    assert ingest(tmp_path).tasks == 0  # and each is found again on a second ingest


@pytest.mark.parametrize("raw", [False, True])
def test_a_trace_read_by_columns_gives_the_tasks_read_row_by_row(tmp_path, raw, monkeypatch):
    """``tasks_from_trace`` (whole columns) gives the tasks ``from_trace`` makes of each
    row, field by field, on the real formats and the fixtures; a bad cell or a short row
    sends it back to the row reader, which names the line. Chunks of 700 rows and at
    most 200 parsed cells kept per column, so both limits are crossed here."""
    monkeypatch.setattr(_trace, "_CHUNK", 700)
    monkeypatch.setattr(_trace, "_REMEMBERED", 200)
    files = [tmp_path / "trace.txt", *sorted(TRACES.glob("*/*trace*.txt"))]
    files += sorted((TRACES / "nf-executor").glob("*.txt"))
    write_synthetic_trace(files[0], 3000, raw=raw)
    for path in files:
        by_rows = [dataclasses.asdict(from_trace(row)) for row in read_trace(path)]
        assert [dataclasses.asdict(t) for t in tasks_from_trace(path)] == by_rows, path
    lines = files[0].read_text().splitlines(keepends=True)
    bad = lines[40].split("\t")
    bad[DEFAULT_FIELDS.index("peak_rss")] = "12 parsecs"
    for number, broken in ((41, "\t".join(bad)), (42, "a\tb\n")):
        path = tmp_path / f"bad{number}.txt"
        path.write_text("".join([*lines[: number - 1], broken, *lines[number:]]))
        with pytest.raises(TraceError) as by_rows:
            read_trace(path)
        with pytest.raises(TraceError, match=f":{number}: ") as by_columns:
            tasks_from_trace(path)
        assert str(by_columns.value) == str(by_rows.value)


@pytest.mark.slow
def test_100k_task_trace_ingests(local_instance, tmp_path):
    _launch_dir(tmp_path)
    rows = write_synthetic_trace(tmp_path / "trace.txt", 100_000)
    result = ingest(tmp_path)
    assert (result.tasks, result.cached, result.skipped) == (rows, 100_000 // 7, 0)
    workflow = tl.Run.get(uid=result.workflow)
    assert tl.Run.filter(parent=workflow).count() == rows
    assert tl.Run.filter(parent=workflow, status="errored").count() == 100_000 // 20


def test_an_ingest_killed_mid_way_keeps_whole_batches_and_resumes(db_instance, tmp_path):
    """kill -9 of an ingest once its first batch is committed (on PostgreSQL the next
    batch's transaction runs on its own connection meanwhile, and batches commit in trace
    order): every task run left has all its features, and ingesting again records exactly
    the rest, once each."""
    _launch_dir(tmp_path)
    rows = write_synthetic_trace(tmp_path / "trace.txt", 12_000)  # three batches
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from threadline.nextflow import ingest; ingest({str(tmp_path)!r})",
        ],
        env={**os.environ, **adapters.child_environment()},
    )
    deadline = time.monotonic() + 300  # a hang guard, not a timing
    while tl.Run.filter().count() <= 1 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the workflow run and a first batch of task runs are in
    child.kill()
    child.wait()
    (workflow,) = tl.Run.filter(name="big_run")
    left = tl.Run.filter(parent=workflow).count()
    assert left in (5000, 10_000, rows)  # whole batches of 5,000 (one transaction each)
    assert left == tl.Run.filter(parent=workflow, trace__isnull=False).count()
    assert left == tl.Run.filter(parent=workflow, process__isnull=False).count()
    result = ingest(tmp_path)
    assert (result.tasks, result.skipped) == (rows - left, left)
    runs = list(tl.Run.filter(parent=workflow))
    assert len(runs) == len({r.reference for r in runs}) == rows
    assert tl.Run.filter(parent=workflow, trace__isnull=False).count() == rows


def test_a_failing_batch_fails_the_ingest_and_the_batch_after_it_rolls_back(db_instance, tmp_path):
    """The second of three batches is refused by the database (a real trigger on ``run``
    rejects one of its tasks). On PostgreSQL the third batch has started meanwhile on its
    own connection (its run ids were taken from the sequence); it rolls back all the same:
    the ingest raises the refusal, only the first batch stays, whole, and a second ingest
    records exactly the rest."""
    _launch_dir(tmp_path)
    rows = write_synthetic_trace(tmp_path / "trace.txt", 12_000)  # batches of 5000, 5000, 2600
    record = read_trace(tmp_path / "trace.txt")[6000]
    refused = f"{record.get('hash')}#{record.get('task_id')}"
    db = tl.Run._meta.database
    postgres = tl.instance().settings.db.startswith("postgres")
    if postgres:
        db.execute_sql(
            "CREATE FUNCTION refuse_task() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.reference = '{refused}' THEN RAISE EXCEPTION USING ERRCODE = "
            f"'check_violation', MESSAGE = 'task {refused} refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        db.execute_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON run FOR EACH ROW EXECUTE FUNCTION refuse_task()"
        )
    else:
        db.execute_sql(
            f"CREATE TRIGGER refuse BEFORE INSERT ON run WHEN NEW.reference = '{refused}' "
            f"BEGIN SELECT RAISE(ABORT, 'task {refused} refused'); END"
        )
    with pytest.raises(peewee.IntegrityError, match=f"task {refused} refused"):
        ingest(tmp_path)
    (workflow,) = tl.Run.filter(name="big_run")
    assert tl.Run.filter(parent=workflow).count() == 5000
    assert tl.Run.filter(parent=workflow, trace__isnull=False).count() == 5000
    if postgres:  # ids go on past the refused batch's 5,000 and the third batch's 2,600
        taken = db.execute_sql("SELECT last_value FROM run_id_seq").fetchone()[0]
        assert taken - max(r.id for r in tl.Run.filter()) >= 7600
    db.execute_sql("DROP TRIGGER refuse" + (" ON run" if postgres else ""))
    result = ingest(tmp_path)
    assert (result.tasks, result.skipped) == (rows - 5000, 5000)
    assert tl.Run.filter(parent=workflow, trace__isnull=False).count() == rows


def _refuse_task(reference: str, postgres: bool) -> None:
    """A real trigger on ``run`` that refuses the task run of ``reference``."""
    db = tl.Run._meta.database
    if postgres:
        db.execute_sql(
            "CREATE FUNCTION refuse_task() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.reference = '{reference}' THEN RAISE EXCEPTION USING ERRCODE = "
            f"'check_violation', MESSAGE = 'task {reference} refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        db.execute_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON run FOR EACH ROW EXECUTE FUNCTION refuse_task()"
        )
    else:
        db.execute_sql(
            f"CREATE TRIGGER refuse BEFORE INSERT ON run WHEN NEW.reference = '{reference}' "
            f"BEGIN SELECT RAISE(ABORT, 'task {reference} refused'); END"
        )


def test_a_failing_first_batch_leaves_only_what_the_next_ingest_uses(db_instance, tmp_path):
    """On PostgreSQL the transforms and features of the first batch are made in a short
    transaction of their own before it (so it can overlap the next batches). When that
    batch is then refused (a real trigger on ``run``), the ingest raises the refusal and
    no task run or value stays; on PostgreSQL the transforms and features stay, without
    runs or values, with the dtypes a batch infers; a second ingest records every task
    once with them, as an ingest that never failed does."""
    _launch_dir(tmp_path)
    rows = write_synthetic_trace(tmp_path / "trace.txt", 12_000)
    record = read_trace(tmp_path / "trace.txt")[100]
    refused = f"{record.get('hash')}#{record.get('task_id')}"
    postgres = tl.instance().settings.db.startswith("postgres")
    _refuse_task(refused, postgres)
    with pytest.raises(peewee.IntegrityError, match=f"task {refused} refused"):
        ingest(tmp_path)
    (workflow,) = tl.Run.filter(name="big_run")
    assert tl.Run.filter(parent=workflow).count() == 0
    processes = {f"PROCESS_{i}" for i in range(12)}
    left = {t.key.rsplit("/", 1)[1] for t in tl.Transform.filter(kind="process")}
    made = {
        f.name: f.dtype for f in tl.Feature.filter(name__in=["process", "tag", "exit", "trace"])
    }
    if postgres:
        assert left == processes
        assert made == {"process": "str", "tag": "str", "exit": "int", "trace": "dict"}
        assert tl.Run.filter(trace__isnull=False).count() == 0
    else:  # one transaction made them with the batch
        assert left == set() and made == {}
    tl.Run._meta.database.execute_sql("DROP TRIGGER refuse" + (" ON run" if postgres else ""))
    result = ingest(tmp_path)
    assert (result.tasks, result.skipped) == (rows, 0)
    assert tl.Run.filter(parent=workflow, trace__isnull=False).count() == rows
    assert tl.Run.filter(parent=workflow, process="PROCESS_3").count() > 0
    assert {t.key.rsplit("/", 1)[1] for t in tl.Transform.filter(kind="process")} == processes
    made = {
        f.name: f.dtype for f in tl.Feature.filter(name__in=["process", "tag", "exit", "trace"])
    }
    assert made == {"process": "str", "tag": "str", "exit": "int", "trace": "dict"}


def test_overlapping_batches_link_the_labels_of_a_categorical_feature(db_instance, tmp_path):
    """``process`` made categorical beforehand: every batch links its task runs to the
    process labels (batches with label links write their values one at a time), each run
    once, each label made once."""
    tl.Feature(name="process", dtype="cat[Label]").save()
    _launch_dir(tmp_path)
    rows = write_synthetic_trace(tmp_path / "trace.txt", 12_000)  # batches of 5000, 5000, 2600
    assert ingest(tmp_path).tasks == rows
    (workflow,) = tl.Run.filter(name="big_run")
    processes = {r.name.split(" ")[0] for r in tl.Run.filter(parent=workflow)}
    assert tl.Label.filter(name__in=sorted(processes)).count() == len(processes) > 1
    linked = sum(tl.Run.filter(parent=workflow, process=name).count() for name in processes)
    assert linked == rows
