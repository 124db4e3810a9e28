"""Feature texts read without Arrow's JSON reader (``query._arrowjson._plain``): strings
without escapes, ints of up to 18 digits and bools become the reader's own arrays; texts
of any other shape are left to the reader, so the columns are what ``json.loads`` and
pandas make of the values either way."""

import json

import pytest

PLAIN = {  # dtype -> texts of the plain shape
    "str": ['"a"', '""', '"sample_12 (x)"', '"caf\u00e9"'],
    "int": ["0", "-7", "999999999999999999", "-999999999999999999", "-0"],
    "bool": ["true", "false", "true"],
}
OTHER = {  # dtype -> texts the plain route must not take (the reader or json reads them)
    "str": ['"a"', '"tab\\t"', '"q\\"q"'],
    "int": ["1", "1234567890123456789", "-9223372036854775808"],
    "bool": ["true", "null"],
}


@pytest.mark.parametrize("kind", [PLAIN, OTHER], ids=["plain", "other"])
@pytest.mark.parametrize("dtype", sorted(PLAIN))
def test_plain_feature_texts_give_the_columns_json_gives(dtype, kind):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from threadline.query._arrowjson import parsed_columns

    texts = kind[dtype]
    owners, rows = list(range(1, len(texts) + 1)), pd.Index(range(len(texts) + 2))
    fast = parsed_columns("f", dtype, owners, texts, rows)
    values = [None, *(json.loads(t) for t in texts), None]  # record 0 and the last: none
    if fast is None:  # left to json.loads by the caller
        assert kind is OTHER  # never for texts of the plain shape
        return
    pd.testing.assert_series_equal(pd.Series(fast["f"]), pd.Series(values), check_exact=True)


@pytest.mark.parametrize("dtype", sorted(PLAIN))
def test_the_plain_route_is_taken_only_for_its_shapes(dtype):
    pa = pytest.importorskip("pyarrow")
    from threadline.query._arrowjson import _plain

    plain = _plain(dtype, pa.array(PLAIN[dtype], type=pa.string()))
    assert plain is not None and plain.to_pylist() == [json.loads(t) for t in PLAIN[dtype]]
    assert _plain(dtype, pa.array(OTHER[dtype], type=pa.string())) is None


def test_values_read_as_concatenated_texts_are_the_rows():
    """SQLite hands the feature values over as three concatenated texts; split by Arrow
    they are the rows, grouped by feature in their order; a text holding the separator
    (which JSON never does unescaped) sends the caller back to the rows."""
    peewee = pytest.importorskip("peewee")
    pytest.importorskip("pyarrow")
    from threadline.query._arrowjson import concatenated

    db = peewee.SqliteDatabase(":memory:")
    rows = [(7, 2, '"a,b"'), (5, 1, "1"), (9, 2, '{"x": [1, 2]}'), (5, 2, '""')]
    sql = " UNION ALL ".join("SELECT ? AS o, ? AS f, ? AS v" for _ in rows)
    params = [x for row in rows for x in row]
    groups = concatenated(db, sql, params)
    assert {f: (list(o), t.to_pylist()) for f, (o, t) in groups.items()} == {
        1: ([5], ["1"]),
        2: ([7, 9, 5], ['"a,b"', '{"x": [1, 2]}', '""']),
    }
    assert concatenated(db, "SELECT 1 AS o, 1 AS f, 'x' AS v WHERE 0", []) == {}
    assert concatenated(db, "SELECT 1 AS o, 1 AS f, 'x' || char(30) || 'y' AS v", []) is None


def test_values_too_long_for_one_sqlite_string_send_the_caller_back_to_the_rows(tmp_path):
    """More text than SQLite holds in one string (its length limit, lowered here for
    real on the connection): ``None``, and the caller reads the rows instead."""
    import sqlite3

    pytest.importorskip("pyarrow")
    from threadline._db import SqliteDatabase
    from threadline.query._arrowjson import concatenated

    db = SqliteDatabase(str(tmp_path / "limit.sqlite"))
    db.connection().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 64)
    sql = "SELECT 1 AS o, 1 AS f, ? AS v UNION ALL SELECT 2, 1, ?"
    texts = ['"' + "a" * 40 + '"', '"' + "b" * 40 + '"']
    assert concatenated(db, sql, [texts[0], '"b"']) is not None  # 48 characters: fits
    assert concatenated(db, sql, texts) is None
    db.close()


def test_a_feature_frame_too_long_for_one_sqlite_string_is_read_as_rows(local_instance):
    """With SQLite's length limit (lowered for real on the reading connection) below the
    concatenated values, the frame reads the rows instead and is the same frame."""
    import sqlite3

    pd = pytest.importorskip("pandas")
    import threadline as tl
    from threadline import adapters

    flow = adapters.get_transform("long", "flow")
    runs = adapters.start_runs([{"transform": flow, "name": f"r{i}"} for i in range(30)])
    features = {"tag": "x" * 50, "exit": 3, "trace": {"rss": 1, "host": "n"}}
    adapters.annotate_records([(r, features) for r in runs], create_features=True)
    query = tl.Run.filter(transform__key="long").order_by("id")
    whole = query.df(features=True)
    connection = tl.instance().db.connection()
    connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)  # 30 x 50 characters: over
    try:
        pd.testing.assert_frame_equal(query.df(features=True), whole, check_exact=True)
    finally:
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000_000)
    assert list(whole["tag"]) == ["x" * 50] * 30 and list(whole["trace.host"]) == ["n"] * 30


def test_small_frames_are_parsed_on_the_callers_thread_large_ones_beside_it(
    db_instance, monkeypatch
):
    """The values of a small frame are parsed at once, on the caller's thread (a thread
    costs more than it saves there); above the limits in a thread of their own while the
    caller reads the rows. Either way the frame is the same, on both databases."""
    pd = pytest.importorskip("pandas")
    import threadline as tl
    from threadline import adapters
    from threadline.query import _frame

    flow = adapters.get_transform("sized", "flow")
    runs = adapters.start_runs([{"transform": flow, "name": f"r{i}"} for i in range(40)])
    adapters.annotate_records(
        [(r, {"tag": f"t{i}", "n": i, "trace": {"rss": i}}) for i, r in enumerate(runs)],
        create_features=True,
    )
    query = tl.Run.filter(transform__key="sized").order_by("id")
    threads = []
    real = _frame.in_background

    def watched(work):  # the real thread, counted
        threads.append(work)
        return real(work)

    monkeypatch.setattr(_frame, "in_background", watched)
    small = query.df(features=True)
    assert threads == []  # 120 values: parsed on this thread
    monkeypatch.setattr(_frame, "SMALL_ROWS", 0)
    monkeypatch.setattr(_frame, "SMALL_TEXT", 0)
    large = query.df(features=True)
    assert len(threads) == 1
    pd.testing.assert_frame_equal(small, large, check_exact=True)
    assert list(small["n"]) == list(range(40)) and list(small["trace.rss"]) == list(range(40))
