"""Bulk inserts' shortcuts give what the one-record paths give: the JSON text of many
dicts written a column at a time (``json_dict_texts``), the rows' defaults and uids
(``insert_records``), on SQLite and PostgreSQL."""

import enum
import json
import math
import random
import string

import threadline as tl
from threadline import adapters
from threadline.models import JSONField, Run
from threadline.models._base import _column_values, insert_records, json_dict_texts, new_uids

ONE = JSONField().db_value  # what a single record's save writes

TEXTS = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    "tab\tline\nbreak",
    "100%",
    "%s %d",
    "naïve ✓ 日本",
]


class Level(enum.IntEnum):
    LOW = 1


def _scalar(rng: random.Random) -> object:
    return rng.choice(
        [
            rng.randrange(-(10**20), 10**20),
            rng.random() * 10 ** rng.randrange(-30, 30),
            rng.choice([0.1, -0.0, 1e16, 1.5e-7, 2**53 + 1.0]),
            rng.choice([True, False, None]),
            rng.choice(TEXTS) + "".join(rng.choices(string.printable, k=rng.randrange(4))),
        ]
    )


def test_dict_texts_are_the_single_record_texts():
    """Random groups of dicts with the same keys (the column path) and without (json's),
    plain and awkward keys and values: every text is the one ``db_value`` writes."""
    rng = random.Random(17)
    for _ in range(300):
        keys = rng.sample([*TEXTS, "b", "a", "peak_rss", "%(x)s"], rng.randrange(6))
        dicts = [{k: _scalar(rng) for k in keys} for _ in range(rng.randrange(12))]
        dicts += [{k: _scalar(rng) for k in rng.sample(keys, len(keys))} for _ in range(3)]
        rng.shuffle(dicts)
        assert json_dict_texts(dicts) == [ONE(d) for d in dicts]


def test_dicts_the_column_path_leaves_to_json():
    """Each case in a group large enough for the column path: the texts are json's
    (NaN and infinities as json writes them, non-string keys, nested values, subclasses,
    a number too long for a text), or its error."""
    cases = [
        {"x": math.nan},
        {"x": -math.inf, "y": 1.0},
        {1: "one"},
        {True: "yes"},
        {1.0: "float key"},
        {None: 0},
        {"x": {"nested": [1, 2]}},
        {"x": [1, "a"]},
        {"x": Level.LOW},
        {"x": (1, 2)},
        {"x": b"bytes"},  # json's default=str, as db_value writes it
    ]
    for case in cases:
        key = next(iter(case))
        dicts = [case, *({key: i} for i in range(5))]
        assert json_dict_texts(dicts) == [ONE(d) for d in dicts], case
    assert json_dict_texts([{1: "a"}, {True: "b"}] * 3) == [
        ONE(d) for d in [{1: "a"}, {True: "b"}] * 3
    ]
    huge = [{"x": 10**5000}] * 5
    for texts in (lambda: json_dict_texts(huge), lambda: [ONE(d) for d in huge]):
        try:
            texts()
        except ValueError as error:
            assert "digits" in str(error)
        else:
            raise AssertionError("a 5,001-digit number was written")


def test_a_json_column_is_the_single_record_column():
    """A feature value column (text, numbers, dicts, lists, None) in database form."""
    rng = random.Random(3)
    values = [{"k": 1, "v": "a"}, {"v": "b", "k": 2}, [1, {"a": 2}], None, "text", 7, 2.5, True]
    values += [{"hash": rng.choice(TEXTS), "rss": rng.randrange(10**12)} for _ in range(40)]
    rng.shuffle(values)
    assert _column_values(JSONField(), values) == [ONE(v) for v in values]


def test_bulk_dict_values_are_stored_as_json_writes_them(db_instance):
    """The stored text of dict values written in bulk is ``json.dumps(sort_keys=True)``'s
    and reads back equal, on both databases."""
    rng = random.Random(5)
    align = adapters.get_transform("align", "process")
    runs = adapters.start_runs([{"transform": align} for _ in range(60)])
    keys = ["hash", "workdir", "peak_rss", "cpu_percent", "cached", "100%"]
    traces = [{k: _scalar(rng) for k in keys} for _ in runs]
    for trace in traces[::7]:
        trace.pop("workdir")  # another group of keys
    adapters.annotate_records(
        [(r, {"trace": t}) for r, t in zip(runs, traces, strict=True)], create_features=True
    )
    db = Run._meta.database
    sql = f"SELECT value FROM run_feature_value WHERE run_id = {db.param}"
    for run, trace in zip(runs, traces, strict=True):
        assert db.execute_sql(sql, [run.id]).fetchone()[0] == json.dumps(trace, sort_keys=True)
        assert tl.Run.get(uid=run.uid).features.get_values() == {"trace": trace}


def test_new_uids_look_like_new_uid():
    uids = new_uids(20_000)
    assert len(uids) == len(set(uids)) == 20_000
    alphabet = set(string.ascii_letters + string.digits)
    assert all(len(u) == 16 and set(u) <= alphabet for u in uids)
    assert set("".join(uids)) == alphabet  # every digit drawn
    assert new_uids(0) == [] and len(new_uids(3, length=40)[2]) == 40


def test_bulk_records_hold_what_single_records_hold(db_instance):
    """``insert_records``' rows: given values over the defaults, None left to the default,
    each a fresh uid and timestamp, the keys in peewee's order; the records behave as
    records peewee builds (status still checked, changes tracked, saved again)."""
    align = adapters.get_transform("align", "process")
    when = Run.started_at.default()
    rows = [
        {"transform": align.id, "name": f"t{i}", "started_at": when if i % 2 else None}
        for i in range(6)
    ]
    runs = insert_records(Run, rows)
    expected_keys = [*Run._meta.get_default_dict(), "transform", "name"]
    for i, run in enumerate(runs):
        assert list(run.__data__) == [*expected_keys, "id"]
        assert run.status == "started" and run.name == f"t{i}" and run._dirty == set()
        assert (run.started_at == when) == bool(i % 2)
        assert tl.Run.get(uid=run.uid).id == run.id
    assert len({r.uid for r in runs}) == 6 and len({r.started_at for r in runs[::2]}) == 3
    try:
        runs[0].status = "nonsense"
    except tl.errors.InvalidInput:
        pass
    else:
        raise AssertionError("a bulk record took a bad status")
    runs[0].name = "renamed"
    assert runs[0]._dirty == {"name"}
    runs[0].save()
    assert tl.Run.get(uid=runs[0].uid).name == "renamed"
