"""Bulk inserts: ``COPY FROM STDIN`` on PostgreSQL (threadline._pgcopy), executemany on
SQLite. The same records come back on both, whatever the text holds."""

import datetime as dt
import json
import math

import peewee
import pytest
import threadline as tl
from threadline import _pgcopy, adapters
from threadline.models import RunFeatureValue
from threadline.models._base import insert_columns

AWKWARD = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",  # COPY's NULL marker, as text
    "\\.",  # COPY's old end-of-data marker, as text
    "",
    "naïve ✓ 日本",
    "trailing\\",
]


def test_column_text_escapes_only_where_needed():
    assert _pgcopy._column_text(["a", None, "b"]) == ["a", "\\N", "b"]
    assert _pgcopy._column_text(["a\tb", "c\\d", "e\nf\rg"]) == ["a\\tb", "c\\\\d", "e\\nf\\rg"]
    assert _pgcopy._column_text([True, None, False]) == ["t", "\\N", "f"]
    assert _pgcopy._column_text([1, 2.5, None, float("inf")]) == ["1", "2.5", "\\N", "inf"]
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678)
    assert _pgcopy._column_text([when, None]) == ["2026-01-02 03:04:05.000678", "\\N"]
    assert _pgcopy._column_text([None, None]) == ["\\N", "\\N"]
    # left to the INSERT path: mixed types, bytes, aware datetimes
    assert _pgcopy._column_text([1, "a"]) is None
    assert _pgcopy._column_text([b"raw"]) is None
    assert _pgcopy._column_text([when.replace(tzinfo=dt.UTC)]) is None


def test_bulk_runs_keep_every_character_and_value(db_instance):
    """Awkward text, numbers, booleans and timestamps stored by start_runs come back as
    given; the ids handed back are the stored ones, in order."""
    workflow = adapters.start_run("wf", "pipeline")
    align = adapters.get_transform("wf/align", "process")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678)
    rows = [
        {
            "transform": align,
            "parent": workflow,
            "name": text,
            "error": f"{text} in the error",
            "started_at": when + dt.timedelta(seconds=n),
            "git_dirty": n % 2 == 0,
            "pid": n,
            "process_start": [1.5, math.inf, 1e300, 0.1][n % 4],
            "params": {"text": text, "n": n},
        }
        for n, text in enumerate(AWKWARD * 3)
    ]
    runs = adapters.start_runs(rows)
    assert [r.name for r in runs] == AWKWARD * 3
    for run, row in zip(runs, rows, strict=True):
        stored = tl.Run.get(uid=run.uid)
        assert stored.id == run.id
        assert (stored.name, stored.error, stored.started_at) == (
            row["name"],
            row["error"],
            row["started_at"],
        )
        assert (stored.git_dirty, stored.pid, stored.process_start, stored.params) == (
            row["git_dirty"],
            row["pid"],
            row["process_start"],
            row["params"],
        )
    later = adapters.start_run("wf", "pipeline")  # the sequence moved past the copied ids
    assert later.id > max(r.id for r in runs)
    assert sorted(r.id for r in runs) == [r.id for r in runs]


def test_bulk_feature_values_keep_every_value(db_instance):
    """Feature values written in bulk (annotate_records) read back and filter as given."""
    align = adapters.get_transform("align", "process")
    runs = adapters.start_runs([{"transform": align} for _ in AWKWARD])
    values = [
        {
            "label": text,
            "count": n,
            "score": n / 3,
            "ok": n % 2 == 0,
            "trace": {"text": text, "peak_rss": n * 2**30},
            "tags": [text, "x"],
        }
        for n, text in enumerate(AWKWARD)
    ]
    adapters.annotate_records(zip(runs, values, strict=True), create_features=True)
    for run, expected in zip(runs, values, strict=True):
        assert tl.Run.get(uid=run.uid).features.get_values() == expected
    assert tl.Run.get(label="line\nbreak").uid == runs[1].uid
    assert tl.Run.get(label="\\N").uid == runs[4].uid
    assert tl.Run.filter(trace__peak_rss__gt=6 * 2**30).count() == 2
    db = tl.Run._meta.database  # the stored JSON text is json.dumps' (str and int inline)
    sql = f"SELECT value FROM run_feature_value WHERE run_id = {db.param}"
    for run, expected in zip(runs, values, strict=True):
        stored = {row[0] for row in db.execute_sql(sql, [run.id]).fetchall()}
        assert stored == {json.dumps(v, sort_keys=True) for v in expected.values()}


def test_aware_timestamps_are_stored_as_by_a_single_insert(db_instance):
    align = adapters.get_transform("align", "process")
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    (bulk,) = adapters.start_runs([{"transform": align, "started_at": aware}])
    single = adapters.start_run("align", "process", started_at=aware)
    assert tl.Run.get(uid=bulk.uid).started_at == tl.Run.get(uid=single.uid).started_at


def test_a_refused_row_writes_nothing(db_instance):
    """A bulk insert the database refuses (a value of a feature that does not exist)
    raises and leaves the table as it was."""
    align = adapters.get_transform("align", "process")
    (run,) = adapters.start_runs([{"transform": align}])
    adapters.annotate(run, {"size": 1}, create_features=True)
    feature = tl.Feature.get(name="size")
    before = RunFeatureValue.select().count()
    columns = {
        "run": [run.id, run.id],
        "feature": [feature.id, feature.id + 1000],
        "value": ["2", "3"],
        "num": [2.0, 3.0],
        "text": [None, None],
    }
    with pytest.raises(peewee.IntegrityError), tl.Run._meta.database.atomic():
        insert_columns(RunFeatureValue, columns)
    assert RunFeatureValue.select().count() == before
    assert tl.Run.get(uid=run.uid).features.get_values() == {"size": 1}


def test_bulk_values_replace_earlier_ones_only(db_instance):
    """annotate_records over records with and without earlier values, below, at and above
    the largest annotated record (new runs skip the search for earlier values): each
    feature's earlier value is replaced, other features and other records stay."""
    align = adapters.get_transform("align", "process")
    a, b, c, d = adapters.start_runs([{"transform": align} for _ in range(4)])
    adapters.annotate_records(
        [(b, {"exit": 1, "kept": "b"}), (d, {"exit": 3, "kept": "d"})], create_features=True
    )
    (e,) = adapters.start_runs([{"transform": align}])  # above every annotated record
    adapters.annotate_records([(r, {"exit": 10 + i}) for i, r in enumerate([a, b, c, d, e])])
    found = {r.uid: tl.Run.get(uid=r.uid).features.get_values() for r in (a, b, c, d, e)}
    assert found == {
        a.uid: {"exit": 10},
        b.uid: {"kept": "b", "exit": 11},
        c.uid: {"exit": 12},
        d.uid: {"kept": "d", "exit": 13},
        e.uid: {"exit": 14},
    }
    assert RunFeatureValue.select().count() == 7
