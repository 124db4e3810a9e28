"""The trace-file parser, on every real trace fixture and on raw rows built from them."""

import datetime as dt

import pytest
from threadline.nextflow import (
    EXTENDED_FIELDS,
    TraceError,
    parse_date,
    parse_duration,
    parse_memory,
    parse_percent,
    read_trace,
)
from threadline.nextflow._trace import FIELD_TYPES, parse_value, split_name

from .conftest import TRACES

HLA = TRACES / "wfcommons_nf-core-hlatyping-1.2.0_nf20.10.0" / "execution_trace.txt"


@pytest.mark.parametrize(
    "text, ms",
    [
        ("0ms", 0),
        ("213ms", 213),
        ("1.8s", 1800),
        ("14s", 14000),
        ("54.8s", 54800),
        ("4m 19s", 259000),
        ("1m 47s", 107000),
        ("4h 41m 19s", 16879000),
        ("3m", 180000),
        ("1d 2h", 93600000),
        ("1234", 1234),
    ],
)
def test_durations(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text, size",
    [
        ("0", 0),
        ("468 B", 468),
        ("1.8 KB", round(1.8 * 1024)),
        ("3.1 MB", round(3.1 * 1024**2)),
        ("103 MB", 103 * 1024**2),
        ("1.5 GB", round(1.5 * 1024**3)),
        ("2048", 2048),
    ],
)
def test_sizes(text, size):
    assert parse_memory(text) == size


def test_percent_and_dates():
    assert parse_percent("24.1%") == 24.1 and parse_percent("311.9") == 311.9
    assert parse_date("2021-03-29 19:50:21.822") == dt.datetime(2021, 3, 29, 19, 50, 21, 822000)
    assert parse_date("1617047421822") == dt.datetime(2021, 3, 29, 19, 50, 21, 822000)
    assert parse_date("2021-03-29 19:50:21.8") == dt.datetime(2021, 3, 29, 19, 50, 21, 800000)


@pytest.mark.parametrize(
    "parse, text",
    [
        (parse_duration, "4 minutes"),
        (parse_memory, "3.1 MiB"),
        (parse_percent, "high"),
        (parse_date, "29/03/2021"),
    ],
)
def test_bad_values_raise(parse, text):
    with pytest.raises(TraceError, match="not a"):
        parse(text)


def test_every_field_has_a_type_and_na_is_none():
    assert set(EXTENDED_FIELDS) <= set(FIELD_TYPES)
    assert len(FIELD_TYPES) == 44
    assert all(parse_value(f, "-") is None for f in FIELD_TYPES)
    assert parse_value("exit", "2147483647") is None  # Integer.MAX_VALUE: no exit yet
    assert parse_value("native_id", "39254") == "39254"


def test_default_format_real_file():
    rows = read_trace(HLA)
    first = rows[0].fields
    assert first["task_id"] == "1" and first["hash"] == "a9/0da8f1"
    assert first["submit"] == dt.datetime(2021, 3, 29, 19, 50, 21, 822000)
    assert (first["duration"], first["realtime"], first["%cpu"]) == (259000, 1800, 24.1)
    assert first["peak_rss"] == round(3.1 * 1024**2) and first["exit"] == 0
    assert rows[3].process == "remap_to_hla" and rows[3].tag == "1"
    assert rows[0].process == "make_ot_config" and rows[0].tag is None


def test_retries_are_separate_rows():
    rows = read_trace(TRACES / "nf-executor" / "job-success-with-task-retries.txt")
    attempts = [r for r in rows if r.get("name") == "CONVERTTOUPPER (2)"]
    assert [r.get("status") for r in attempts][:2] == ["FAILED", "FAILED"]
    assert attempts[-1].get("status") == "COMPLETED"
    assert len({r.get("hash") for r in attempts}) == len(attempts)  # a new hash per attempt
    assert attempts[0].get("%cpu") is None and attempts[0].get("exit") == 1


def test_aborted_row_has_no_exit():
    rows = read_trace(TRACES / "nf-executor" / "job-fail-task2-retries-and-aborts.txt")
    aborted = [r for r in rows if r.get("status") == "ABORTED"]
    assert aborted and all(r.get("exit") is None for r in aborted)


@pytest.mark.parametrize(
    "path",
    sorted(TRACES.rglob("*trace*.txt")) + sorted((TRACES / "nf-executor").glob("*.txt")),
    ids=lambda p: p.name,
)
def test_every_real_trace_parses(path):
    rows = read_trace(path)
    assert rows and all(r.get("task_id") and r.get("status") for r in rows)


def raw_row(fields: dict[str, str]) -> str:
    return "\t".join(fields.values())


def test_raw_format_and_cached_rows(tmp_path):
    header = [
        "task_id",
        "hash",
        "process",
        "tag",
        "name",
        "status",
        "exit",
        "attempt",
        "submit",
        "realtime",
        "%cpu",
        "peak_rss",
        "workdir",
    ]
    rows = [
        [
            "1",
            "ec/9a4ecd",
            "SPLIT",
            "a",
            "SPLIT (a)",
            "CACHED",
            "0",
            "1",
            "1698839948786",
            "120",
            "98.5",
            "3250176",
            "/w/ec/9a4ecd00",
        ],
        [
            "2",
            "7a/b0b837",
            "UP",
            "-",
            "UP",
            "COMPLETED",
            "0",
            "2",
            "1698839949116",
            "0",
            "0.0",
            "0",
            "/w/7a/b0b83700",
        ],
    ]
    path = tmp_path / "trace.txt"
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    first, second = read_trace(path)
    assert first.get("status") == "CACHED" and first.get("peak_rss") == 3250176
    assert first.get("submit") == dt.datetime(2023, 11, 1, 11, 59, 8, 786000)
    assert (first.get("realtime"), first.get("%cpu"), first.get("attempt")) == (120, 98.5, 1)
    assert second.tag is None and second.process == "UP"


def test_truncated_last_row_is_skipped_but_bad_rows_fail(tmp_path):
    text = HLA.read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.rindex("\t")])  # the row being written when Nextflow stopped
    assert len(read_trace(cut)) == len(read_trace(HLA)) - 1
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace("4m 19s", "four minutes"))
    with pytest.raises(TraceError, match=r"bad.txt:2: field duration: not a Nextflow duration"):
        read_trace(bad)
    other = tmp_path / "other.txt"
    other.write_text("a\tb\n1\t2\n")
    with pytest.raises(TraceError, match="not a Nextflow trace file"):
        read_trace(other)


def test_split_name():
    assert split_name("NFCORE:QUANT (S1 rep (2))") == ("NFCORE:QUANT", "S1 rep (2)")
    assert split_name(None) == (None, None)
    # the first " (" splits, the name must end in ")" and hold no line break (as the
    # pattern (.*?) \((.*)\) did before split_name went without re)
    assert split_name("A (1) (2)") == ("A", "1) (2")
    assert split_name(" (x)") == ("", "x") and split_name("A ()") == ("A", "")
    assert split_name("A (1") == ("A (1", None) and split_name("A(1)") == ("A(1)", None)
    assert split_name("A (1)\n") == ("A (1)\n", None)
    assert split_name("A (1\n)") == ("A (1\n)", None)


def test_repeated_cells_read_alike_and_a_bad_one_still_names_its_row(tmp_path):
    """Cells seen before are answered from memory (a trace repeats its rounded sizes and
    durations): same values, and a bad cell after good ones still fails on its row."""
    rows = ["task_id\thash\tname\tduration\tpeak_rss\t%cpu"]
    rows += [f"{i}\tab/cdef{i:02d}\tP ({i})\t4m 19s\t1.7 GB\t98.5%" for i in range(1, 4)]
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(rows) + "\n")
    read = read_trace(trace)
    assert {(r.get("duration"), r.get("peak_rss"), r.get("%cpu")) for r in read} == {
        (259_000, round(1.7 * 2**30), 98.5)
    }
    trace.write_text("\n".join([*rows, "4\tab/cdef04\tP (4)\t4m 19s\t1.7 GiB\t98.5%"]) + "\n")
    with pytest.raises(TraceError, match=r"trace.txt:5: field peak_rss: not a Nextflow memory"):
        read_trace(trace)
