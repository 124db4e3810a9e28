"""@tl.step(cache=True) / @tl.flow(cache=True): hits, misses and their reasons, safety."""

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import threadline as tl
from threadline import caching
from threadline._db import is_sqlite
from threadline.errors import InvalidInput
from threadline.models import CacheEntry

from tests.harness import write


def test_a_second_call_reuses_the_first(local_instance, isolated):
    calls = []
    data = tl.Artifact(write(isolated / "in.txt", "abc"), key="in.txt").save()

    @tl.step(cache=True)
    def upper(source: tl.Artifact, suffix: str = "!") -> tl.Artifact:
        calls.append(source.key)
        out = write(isolated / "out.txt", source.load().upper() + suffix)
        return tl.Artifact(out, key="out.txt").save()

    first = upper(data)
    second = upper(data)
    assert calls == ["in.txt"]  # the body ran once
    assert isinstance(second, tl.Artifact) and second.uid == first.uid
    runs = list(tl.Run.filter(transform__kind="step").order_by("id"))
    assert [r.status for r in runs] == ["completed", "cached"]
    assert runs[1].cached_from_id == runs[0].id and runs[1].finished_at is not None
    assert [a.key for a in runs[1].inputs] == ["in.txt"]  # the same inputs, linked
    assert runs[1].params == runs[0].params == {"source": "Artifact(in.txt)", "suffix": "!"}
    assert runs[0].cache_note == "no earlier cached run of this transform"
    assert first.run_id == runs[0].id  # the output keeps the run that made it


def test_every_miss_says_why(local_instance, isolated, caplog):
    path = write(isolated / "reads.txt", "ACGT")

    @tl.step("count", cache=True)
    def count(reads: Path, k: int) -> int:
        return len(reads.read_text()) * k

    caplog.set_level(logging.DEBUG, logger="threadline.caching")
    assert count(path, 1) == 4
    assert count(path, 2) == 8  # a parameter changed
    write(path, "ACGT")  # rewritten with the same bytes: still a hit
    os.utime(path, (1_000_000_000, 1_000_000_000))  # a touched timestamp too
    assert count(path, 2) == 8
    write(path, "ACGTACGT")  # same path, new content
    assert count(path, 2) == 16
    assert count(path, 2) == 16  # hit
    notes = [r.cache_note for r in tl.Run.filter(transform__key="count").order_by("id")]
    assert notes == [
        "no earlier cached run of this transform",
        "parameter 'k' changed",
        None,
        "input 'reads' changed",
        None,
    ]
    assert "cache miss for count: input 'reads' changed" in caplog.text
    assert "cache hit for count" in caplog.text


def test_values_without_canonical_form_make_the_call_uncacheable(local_instance, isolated):
    calls = []

    @tl.step("opaque", cache=True)
    def opaque(thing: object) -> int:
        calls.append(1)
        return 1

    opaque(object())
    opaque(object())
    assert len(calls) == 2
    run = tl.Run.filter(transform__key="opaque").first()
    assert (
        run.cache_note
        == "not cached: parameter 'thing' of type object has no canonical form to hash"
    )
    assert CacheEntry.select().count() == 0


def test_methods_key_on_their_object(local_instance, isolated):
    @dataclasses.dataclass
    class Scaler:
        factor: int

        @tl.step("scale", cache=True)
        def scale(self, n: int) -> int:
            return n * self.factor

    class Opaque:
        @tl.step("opaque-method", cache=True)
        def run(self) -> int:
            return 1

    assert Scaler(2).scale(5) == 10 and Scaler(3).scale(5) == 15  # not a stale 10
    assert Scaler(3).scale(5) == 15
    statuses = [r.status for r in tl.Run.filter(transform__key="scale").order_by("id")]
    assert statuses == ["completed", "completed", "cached"]
    Opaque().run()
    note = tl.Run.filter(transform__key="opaque-method").first().cache_note
    assert note == "not cached: parameter 'self' of type Opaque has no canonical form to hash"


def test_a_fifo_argument_makes_the_call_uncacheable(local_instance, isolated):
    fifo = isolated / "pipe"
    os.mkfifo(fifo)

    @tl.step("fifo", cache=True)
    def reads_pipe(source: Path) -> int:
        return 1

    assert reads_pipe(fifo) == 1  # the call runs; hashing the pipe would hang or fail
    note = tl.Run.get(transform__key="fifo").cache_note
    assert note.startswith("not cached: ") and "pipe" in note


def test_secrets_are_masked_before_hashing(local_instance, isolated):
    calls = []

    @tl.step("fetch", cache=True)
    def fetch(url: str, api_token: str) -> str:
        calls.append(url)
        return "data"

    fetch("https://alice:one@example.org/x", api_token="t1")
    fetch("https://alice:two@example.org/x", api_token="t2")  # only secrets differ
    assert len(calls) == 1
    fetch("https://alice:two@example.org/y", api_token="t2")
    assert len(calls) == 2


def test_returned_values_come_back_as_returned(local_instance, isolated):
    a = tl.Artifact(write(isolated / "a.txt", "A"), key="a.txt").save()
    out = write(isolated / "report.txt", "R")

    @tl.step("mixed", cache=True)
    def mixed(n: int) -> dict:
        return {"n": n, "pair": (a, [1.5, None]), "path": out, "label": "x"}

    first = mixed(3)
    again = mixed(3)
    assert again == first and isinstance(again["pair"], tuple)
    assert isinstance(again["path"], Path) and again["pair"][0].uid == a.uid
    assert tl.Run.filter(transform__key="mixed", status="cached").count() == 1
    write(out, "changed")  # a returned path that changed is not reused
    mixed(3)
    latest = tl.Run.filter(transform__key="mixed").order_by("-id").first()
    assert latest.status == "completed"
    assert latest.cache_note == f"returned path {out} changed"


def test_a_return_value_that_cannot_be_stored_is_not_cached(local_instance, isolated):
    @tl.step("frame", cache=True)
    def frame() -> object:
        return object()

    frame()
    frame()
    notes = [r.cache_note for r in tl.Run.filter(transform__key="frame")]
    assert all("a return value of type object cannot be stored" in n for n in notes)
    assert tl.Run.filter(transform__key="frame", status="completed").count() == 2


def test_a_failure_to_record_costs_a_rerun_not_the_result(local_instance, isolated, caplog):
    @tl.step("unrecorded", cache=True)
    def unrecorded(n: int) -> int:
        tl.instance().db.execute_sql("DROP TABLE cache_entry")  # a real database fault
        return n + 1

    assert unrecorded(1) == 2
    run = tl.Run.get(transform__key="unrecorded")
    assert run.status == "completed"
    assert run.cache_note.endswith("; not cached: recording the entry failed (DatabaseError)")
    assert "the cache entry was not recorded" in caplog.text


def test_errored_runs_are_never_reused(local_instance, isolated):
    attempts = []

    @tl.step("flaky", cache=True)
    def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return n

    with pytest.raises(RuntimeError):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1
    assert attempts == [1, 1]
    statuses = [r.status for r in tl.Run.filter(transform__key="flaky").order_by("id")]
    assert statuses == ["errored", "completed", "cached"]


@pytest.mark.parametrize("how", ["trash", "permanent", "purge"])
def test_a_gone_output_is_a_miss_not_an_error(local_instance, isolated, how):
    calls = []

    @tl.step("make", cache=True)
    def make(text: str) -> tl.Artifact:
        calls.append(text)
        return tl.Artifact(write(isolated / "made.txt", text), key="made.txt").save()

    made = make("hello")
    if how == "trash":
        made.delete()
    elif how == "permanent":
        made.delete(permanent=True)
    else:  # the object vanished behind threadline's back
        Path(tl.instance().backend.local_path(made.path)).unlink()
    again = make("hello")
    assert calls == ["hello", "hello"]
    assert again.load() == "hello"
    note = tl.Run.filter(transform__key="make").order_by("-id").first().cache_note
    assert note.startswith("output ") and "is gone" in note


def test_a_returned_input_that_is_gone_is_a_miss(local_instance, isolated):
    calls = []

    @tl.step("passthrough", cache=True)
    def passthrough(name: str) -> tl.Artifact:
        calls.append(name)
        return tl.Artifact.get(key=name)

    tl.Artifact(write(isolated / "p.txt", "p"), key="p.txt").save()
    passthrough("p.txt").delete(permanent=True)
    tl.Artifact(write(isolated / "p.txt", "p2"), key="p.txt").save()
    assert passthrough("p.txt").load() == "p2"  # not a KeyError, not the deleted record
    assert len(calls) == 2


def test_an_artifact_read_by_key_in_the_body_is_checked(local_instance, isolated):
    tl.Artifact(write(isolated / "ref.txt", "v1"), key="ref/genome.txt").save()
    tl.Artifact(write(isolated / "gtf.txt", "g"), key="ref/genes.txt").save()
    calls = []

    @tl.step("align", cache=True)
    def align(sample: str) -> str:
        calls.append(sample)
        tl.Artifact.get(key="ref/genes.txt").load()
        return tl.Artifact.get(key="ref/genome.txt").load() + sample

    assert align("S1") == "v1S1" and align("S1") == "v1S1"
    assert len(calls) == 1
    tl.Artifact(write(isolated / "ref.txt", "v2"), key="ref/genome.txt").save()
    assert align("S1") == "v2S1"
    assert len(calls) == 2
    note = tl.Run.filter(transform__key="align").order_by("-id").first().cache_note
    assert note == "input ref/genome.txt changed (read by the body)"
    assert [len(e.reads) for e in caching.entries("align")] == [2, 2]


def test_files_read_through_threadline_in_the_body_are_checked(local_instance, isolated):
    path = write(isolated / "settings.txt", "a")
    calls = []

    @tl.step("configure", cache=True)
    def configure() -> int:
        calls.append(1)
        tl.adapters.link_inputs(tl.context.run, paths=[path])
        return 1

    configure(), configure()
    assert len(calls) == 1
    write(path, "b")  # the file the body read changed: a miss
    configure()
    assert len(calls) == 2
    note = tl.Run.filter(transform__key="configure").order_by("-id").first().cache_note
    assert note == f"input file {path} changed (read by the body)"


def test_a_file_read_unseen_makes_the_call_uncacheable(local_instance, isolated):
    path = write(isolated / "settings.txt", "a")
    calls = []

    @tl.step("sneaky", cache=True)
    def sneaky() -> int:
        calls.append(1)
        run = tl.context.run  # a plain thread does not carry the call's context
        reader = threading.Thread(
            target=tl.adapters.link_inputs, args=(run,), kwargs={"paths": [path]}
        )
        reader.start()
        reader.join()
        return 1

    sneaky(), sneaky()
    assert len(calls) == 2 and CacheEntry.select().count() == 0
    note = tl.Run.filter(transform__key="sneaky").first().cache_note
    assert "; not cached: the body read a file it did not name (" in note


def test_refresh_runs_and_records_anew(local_instance, isolated):
    calls = []

    def body(n: int) -> int:
        calls.append(n)
        return n * len(calls)  # not deterministic: which result is reused shows

    cached = tl.step("job", cache=True)(body)
    refresh = tl.step("job", cache="refresh")(body)
    assert cached(1) == 1
    assert refresh(1) == 2
    assert cached(1) == 2  # the refreshed result replaced the first
    assert calls == [1, 1] and len(caching.entries("job")) == 1
    notes = [r.cache_note for r in tl.Run.filter(transform__key="job").order_by("id")]
    assert notes[1] == "refresh requested"
    with pytest.raises(InvalidInput, match="cache must be True, False or 'refresh'"):
        tl.step(cache="always")(body)


def test_a_cached_flow_skips_its_steps(local_instance, isolated):
    @tl.step("inner")
    def inner(x: int) -> int:
        return x + 1

    @tl.flow("outer", cache=True)
    def outer(x: int) -> int:
        return inner(x) * 2

    assert outer(1) == 4 and outer(1) == 4
    assert tl.Run.filter(transform__key="inner").count() == 1
    assert [r.status for r in tl.Run.filter(transform__key="outer").order_by("id")] == [
        "completed",
        "cached",
    ]


def test_a_cached_flow_checks_what_its_steps_read(local_instance, isolated):
    tl.Artifact(write(isolated / "cfg.txt", "k=1"), key="config.txt").save()

    @tl.step("read-config")
    def read_config() -> str:
        return tl.Artifact.get(key="config.txt").load()

    @tl.flow("configured", cache=True)
    def configured() -> str:
        return read_config().upper()

    assert configured() == "K=1" and configured() == "K=1"
    tl.Artifact(write(isolated / "cfg.txt", "k=2"), key="config.txt").save()
    assert configured() == "K=2"
    statuses = [r.status for r in tl.Run.filter(transform__key="configured").order_by("id")]
    assert statuses == ["completed", "cached", "completed"]
    assert tl.Run.filter(transform__key="configured").order_by("-id").first().cache_note == (
        "input config.txt changed (read by the body)"
    )


def test_async_steps_are_cached_too(local_instance, isolated):
    calls = []

    @tl.step("async-double", cache=True)
    async def double(n: int) -> int:
        calls.append(n)
        await asyncio.sleep(0)
        return 2 * n

    async def main() -> list[int]:
        return [await double(2), await double(2), await double(3)]

    assert asyncio.run(main()) == [4, 4, 6]
    assert calls == [2, 3]


def test_entries_and_clear(local_instance, isolated):
    @tl.step("a", cache=True)
    def a(n: int) -> int:
        return n

    @tl.step("b", cache=True)
    def b(n: int) -> int:
        return n

    a(1), a(2), b(1)
    assert [e.transform_key for e in caching.entries()] == ["b", "a", "a"]
    assert len(caching.entries("a")) == 2
    assert caching.clear("a") == 2 and [e.transform_key for e in caching.entries()] == ["b"]
    a(1)
    assert tl.Run.filter(transform__key="a").order_by("-id").first().cache_note == (
        "no earlier cached run of this transform"
    )
    assert caching.clear() == 2


def importable(folder, monkeypatch) -> None:
    """Modules in ``folder`` importable, read from source on every import: an edit in the
    same second that keeps the file's size would otherwise reuse the stale ``.pyc``."""
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


def test_an_edited_helper_invalidates(local_instance, isolated, monkeypatch):
    helpers = write(isolated / "helpers_mod.py", "def shout(t):\n    return t.upper()\n")
    steps = write(
        isolated / "steps_mod.py",
        "import threadline as tl\nfrom helpers_mod import shout\nLIMIT = 3\n\n"
        "@tl.step('shout', cache=True)\ndef run(t: str) -> str:\n    return shout(t)[:LIMIT]\n",
    )
    importable(isolated, monkeypatch)

    def load() -> object:
        for name in ("steps_mod", "helpers_mod"):
            sys.modules.pop(name, None)
        import steps_mod  # a fresh import of the edited files

        return steps_mod

    assert load().run("abcd") == "ABC"
    assert load().run("abcd") == "ABC"
    write(helpers, "def shout(t):\n    return t.upper() + '!'\n")
    assert load().run("ab") == "AB!"
    steps.write_text(steps.read_text().replace("LIMIT = 3", "LIMIT = 2"))
    assert load().run("ab") == "AB"
    notes = [r.cache_note for r in tl.Run.filter(transform__key="shout").order_by("id")]
    assert [r.status for r in tl.Run.filter(transform__key="shout").order_by("id")] == [
        "completed",
        "cached",
        "completed",
        "completed",
    ]
    assert notes[2] in ("code changed", "parameter 't' changed")


def test_an_edited_config_dict_invalidates(local_instance, isolated, monkeypatch):
    module = write(
        isolated / "configured_mod.py",
        "import threadline as tl\nCONFIG = {'k': 2, 'names': ['a']}\n\n"
        "@tl.step('configured-step', cache=True)\ndef run(n: int) -> int:\n"
        "    return n * CONFIG['k']\n",
    )
    importable(isolated, monkeypatch)

    def load() -> object:
        sys.modules.pop("configured_mod", None)
        import configured_mod  # a fresh import of the edited file

        return configured_mod

    assert load().run(5) == 10 and load().run(5) == 10
    module.write_text(module.read_text().replace("'k': 2", "'k': 3"))
    assert load().run(5) == 15
    runs = list(tl.Run.filter(transform__key="configured-step").order_by("id"))
    assert [r.status for r in runs] == ["completed", "cached", "completed"]
    assert runs[2].cache_note == "code changed"


NOTEBOOK = """
import sys
import threadline as tl

del sys.modules["__main__"].__file__  # as in a notebook: no file behind __main__


def helper(x):
    return x + 1


@tl.step("cell-step", cache=True)
def cell_step(x: int) -> int:
    return helper(x)


print(cell_step(1))
"""


def test_a_helper_defined_beside_the_step_in_main_invalidates(local_instance, isolated):
    script = write(isolated / "cells.py", NOTEBOOK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert run() == "2" and run() == "2"
    write(script, NOTEBOOK.replace("return x + 1", "return x + 10"))
    assert run() == "11"
    runs = list(tl.Run.filter(transform__key="cell-step").order_by("id"))
    assert [r.status for r in runs] == ["completed", "cached", "completed"]
    assert runs[2].cache_note == "code changed"


RACE = """
import os, pathlib, sys, time
import threadline as tl

@tl.step("race", cache=True)
def slow(n: int) -> tl.Artifact:
    pathlib.Path(sys.argv[2]).touch()  # in the body: this process missed
    while not pathlib.Path(sys.argv[1]).exists():
        time.sleep(0.01)
    out = pathlib.Path(f"out-{os.getpid()}.txt")
    out.write_text(str(2 * n))
    return tl.Artifact(out, key="race/out.txt").save()

print(slow(21).uid)
"""


def test_two_processes_on_one_key_both_succeed_and_one_entry_wins(db_instance, isolated):
    script = write(isolated / "race.py", RACE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    go, ready = isolated / "go", [isolated / "ready-1", isolated / "ready-2"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(r)], env=env, stdout=subprocess.PIPE
        )
        for r in ready
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # both are inside the body now
    outs = [p.communicate(timeout=120)[0].decode().strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1]  # the same artifact: same key, same content
    runs = list(tl.Run.filter(transform__key="race"))
    assert [r.status for r in runs] == ["completed", "completed"]
    assert CacheEntry.select().count() == 1
    third = subprocess.run(
        [sys.executable, str(script), str(go), str(isolated / "ready-3")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert third.stdout.strip() == outs[0] and not (isolated / "ready-3").exists()


def test_a_v2_database_gains_the_cache_schema(db_instance, isolated):
    db = tl.instance().db
    db.execute_sql("DROP TABLE cache_entry")
    dropped = ["cache_note", "pid", "process_start"]
    if not is_sqlite(db):  # SQLite cannot drop a column that a foreign key names
        dropped.append("cached_from_id")
    for column in dropped:
        db.execute_sql(f"ALTER TABLE run DROP COLUMN {column}")
    db.execute_sql("UPDATE threadline_schema_version SET version = 2")
    tl.disconnect()
    tl.connect()

    @tl.step("after-upgrade", cache=True)
    def step(n: int) -> int:
        return n

    step(1), step(1)
    assert [r.status for r in tl.Run.filter(transform__key="after-upgrade")] == [
        "completed",
        "cached",
    ]


def test_cache_cli_ls_and_clear(local_instance, isolated):
    from click.testing import CliRunner
    from threadline.cli import main

    @tl.step("listed", cache=True)
    def listed(n: int) -> int:
        return n

    listed(1)
    runner = CliRunner()
    shown = runner.invoke(main, ["cache", "ls", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert [r["transform"] for r in rows] == ["listed"] and rows[0]["outputs"] == 0
    assert "listed" in runner.invoke(main, ["cache", "ls", "--transform", "listed"]).output
    for command in ("ls", "clear"):  # a typo in --transform is an error, not an empty cache
        typo = runner.invoke(main, ["cache", command, "--transform", "lsited"])
        assert (typo.exit_code, typo.output) == (1, "error: no transform with key 'lsited'\n")

    @tl.step("uncached")
    def uncached(n: int) -> int:
        return n

    uncached(1)  # a transform with no entries: nothing to clear
    cleared = runner.invoke(main, ["cache", "clear", "--transform", "uncached"])
    assert cleared.output.strip() == "removed 0 cache entries"
    assert runner.invoke(main, ["cache", "clear"]).output.strip() == "removed 1 cache entry"
    assert runner.invoke(main, ["cache", "ls"]).output.strip() == "no cache entries"


def test_describe_shows_why_the_run_that_made_it_ran(local_instance, isolated):
    from click.testing import CliRunner
    from threadline.cli import main

    @tl.step("made", cache=True)
    def made(text: str) -> tl.Artifact:
        return tl.Artifact(write(isolated / "m.txt", text), key="m.txt").save()

    first = made("a")
    made("b")
    shown = CliRunner().invoke(main, ["describe", "m.txt"])
    assert shown.exit_code == 0, shown.output
    assert "cache: parameter 'text' changed" in shown.output
    made("a")  # a hit: its run reuses the first
    miss, hit = tl.Run.filter(transform__key="made").order_by("id")[1:]
    of_miss = CliRunner().invoke(main, ["describe", miss.uid])
    assert "cache: parameter 'text' changed" in of_miss.output
    of_hit = CliRunner().invoke(main, ["describe", hit.uid, "--json"])
    data = json.loads(of_hit.output)
    assert data["status"] == "cached" and data["cached_from"] == first.run.uid
    assert data["outputs"] == [first.uid] and data["inputs"] == []  # the reused outputs
    assert f"reuses run: {first.run.uid}" in CliRunner().invoke(main, ["describe", hit.uid]).output


def test_uncached_steps_are_unchanged(local_instance, isolated):
    @tl.step("plain")
    def plain(n: int) -> int:
        return n

    plain(1), plain(1)
    runs = list(tl.Run.filter(transform__key="plain"))
    assert [r.status for r in runs] == ["completed", "completed"]
    assert all(r.cache_note is None for r in runs) and CacheEntry.select().count() == 0


# -- the 20-step diamond: exactly the affected steps run again ------------------------------

DIAMOND = '''
import json, sys
from pathlib import Path

import threadline as tl
import dag_helpers

CALLS = []
OUT = Path("out")


def save(name: str, text: str) -> tl.Artifact:
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.txt").write_text(text)
    return tl.Artifact(OUT / f"{name}.txt", key=f"dag/{name}.txt").save()


@tl.step(cache=True)
def source(path: Path, name: str) -> tl.Artifact:
    CALLS.append(name)
    return save(name, path.read_text())


@tl.step(cache=True)
def left(prev: tl.Artifact, i: int, scale: int) -> tl.Artifact:
    CALLS.append(f"l{i}")
    return save(f"l{i}", f"{prev.load()}|l{i}x{scale}")


@tl.step(cache=True)
def right(prev: tl.Artifact, i: int) -> tl.Artifact:
    CALLS.append(f"r{i}")
    return save(f"r{i}", f"{prev.load()}|r{i}")


@tl.step(cache=True)
def polish(prev: tl.Artifact, i: int) -> tl.Artifact:
    CALLS.append(f"p{i}")
    return save(f"p{i}", dag_helpers.polish(prev.load(), i))


@tl.step(cache=True)
def join(a: tl.Artifact, b: tl.Artifact) -> tl.Artifact:
    CALLS.append("join")
    return save("join", a.load() + "+" + b.load())


@tl.step(cache=True)
def final(joined: tl.Artifact) -> tl.Artifact:
    CALLS.append("final")
    return save("final", str(len(joined.load())) + ":" + joined.load())


@tl.flow("diamond")
def diamond(a: Path, b: Path, scale: int) -> tl.Artifact:
    x, y = source(a, "a"), source(b, "b")
    for i in range(1, 9):
        x = left(x, i, scale if i == 3 else 1)
    for i in range(1, 5):
        y = right(y, i)
    for i in range(5, 9):
        y = polish(y, i)
    return final(join(x, y))


def graph(artifact: tl.Artifact) -> list:
    """The lineage as edges between content hashes and (transform, params) run labels."""
    edges = set()
    for item in [artifact, *tl.lineage.upstream(artifact).artifacts]:
        run = item.run
        if run is None:  # source data (a.txt, b.txt): read by source(), made by no run
            continue
        label = run.transform.key + json.dumps(run.params, sort_keys=True)
        edges.add((label, item.hash))
        edges.update((i.hash, label) for i in run.inputs)
    return sorted(edges)


result = diamond(Path("a.txt"), Path("b.txt"), int(sys.argv[1]))
print(json.dumps({"calls": CALLS, "final": result.uid, "graph": graph(result)}))
'''

HELPERS = "def polish(text, i):\n    return f'{text}|p{i}'\n"


def _diamond(folder: Path, scale: int, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "pipeline.py", str(scale)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _diamond_folder(folder: Path, a: str, helpers: str) -> Path:
    folder.mkdir(exist_ok=True)
    write(folder / "pipeline.py", DIAMOND)
    write(folder / "a.txt", a)
    write(folder / "b.txt", "B")
    write(folder / "dag_helpers.py", helpers)
    return folder


def test_twenty_step_diamond_reruns_exactly_the_affected_steps(local_instance, isolated):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # edits below keep sizes: no stale .pyc reused
    work = _diamond_folder(isolated / "dag", "A", HELPERS)
    left_side = ["a", *(f"l{i}" for i in range(1, 9))]
    polished = [f"p{i}" for i in range(5, 9)]
    first = _diamond(work, 2, env)
    assert len(first["calls"]) == 20
    second = _diamond(work, 2, env)
    assert second["calls"] == [] and second["final"] == first["final"]
    assert second["graph"] == first["graph"]
    write(work / "a.txt", "A2")  # same path, new content
    assert _diamond(work, 2, env)["calls"] == [*left_side, "join", "final"]
    write(work / "dag_helpers.py", HELPERS.replace("|p{i}", "|P{i}"))  # an edited helper
    assert _diamond(work, 2, env)["calls"] == [*polished, "join", "final"]
    last = _diamond(work, 3, env)  # a parameter of one step
    assert last["calls"] == [f"l{i}" for i in range(3, 9)] + ["join", "final"]
    cached = tl.Run.filter(status="cached").count()
    assert cached == 20 + 9 + 14 + 12  # every step that did not run is a cached run

    fresh_env = {
        **env,
        "THREADLINE_DB": f"sqlite:///{isolated / 'fresh' / 'db.sqlite'}",
        "THREADLINE_STORAGE": str(isolated / "fresh" / "storage"),
    }
    fresh_work = _diamond_folder(isolated / "dag-fresh", "A2", HELPERS.replace("|p{i}", "|P{i}"))
    fresh = _diamond(fresh_work, 3, fresh_env)
    assert len(fresh["calls"]) == 20
    rel = [[str(x).replace(str(fresh_work), str(work)) for x in e] for e in fresh["graph"]]
    # an edge into each output, 19 artifact inputs, 2 source files (a.txt, b.txt) read
    assert len(last["graph"]) == 20 + 19 + 2
    assert sorted(rel) == last["graph"]  # the same lineage graph as a fresh run's
