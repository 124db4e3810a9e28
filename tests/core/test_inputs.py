"""adapters.resolve_inputs: which artifact an input is (handed > at its key > by content,
the oldest producer finished before the consumer started), and source data named."""

import datetime as dt
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import threadline as tl
from click.testing import CliRunner
from threadline import adapters, export
from threadline.adapters import Input
from threadline.cli import main

from tests.harness import write


def produce(path: Path, text: str, key: str | None = None) -> tl.Artifact:
    """A run that wrote ``path`` and registered it, finished now."""
    run = adapters.start_run(f"write {path.name}", "task")
    (artifact,) = adapters.register_outputs(run, [adapters.Output(str(write(path, text)), key)])
    adapters.finish_run(run, "completed")
    return artifact


def inputs_of(run: tl.Run) -> list[str]:
    return sorted(str(a.key) for a in tl.Run.get(uid=run.uid).inputs)


def test_equal_content_resolves_to_the_file_read_not_the_first_registered(db_instance, isolated):
    b = produce(isolated / "raw_b.csv", "x,y\n", "raw_b.csv")  # registered first
    a = produce(isolated / "raw_a.csv", "x,y\n", "raw_a.csv")
    consumer = adapters.start_run("clean", "task")
    found = adapters.resolve_inputs(consumer, ["raw_a.csv"])
    assert [x.uid for x in found if x] == [a.uid] and a.uid != b.uid
    assert inputs_of(consumer) == ["raw_a.csv"]
    other = adapters.start_run("clean", "task")
    assert adapters.resolve_inputs(other, [isolated / "raw_b.csv"])[0].uid == b.uid


def test_the_artifact_handed_wins_over_its_path(db_instance, isolated):
    a = produce(isolated / "a.txt", "same\n", "a.txt")
    b = produce(isolated / "b.txt", "same\n", "b.txt")
    consumer = adapters.start_run("use", "task")
    found = adapters.resolve_inputs(consumer, [Input(path="a.txt", artifact=b), a])
    assert [x.uid for x in found if x] == [b.uid, a.uid]
    assert inputs_of(consumer) == ["a.txt", "b.txt"]


def test_by_content_the_oldest_producer_finished_before_the_consumer(db_instance, isolated):
    early = produce(isolated / "out" / "one.txt", "payload\n", "out/one.txt")
    consumer = adapters.start_run("use", "task")
    produce(isolated / "out" / "two.txt", "payload\n", "out/two.txt")  # finished after
    copy = write(isolated / "elsewhere" / "copy.txt", "payload\n")  # no artifact at its key
    assert adapters.resolve_inputs(consumer, [copy])[0].uid == early.uid
    before = consumer.started_at - dt.timedelta(days=1)  # before every producer finished
    fresh = adapters.resolve_inputs(None, [copy], started_at=before)[0]
    assert fresh.uid != early.uid and fresh.key == "elsewhere/copy.txt" and fresh.run_id is None


def test_by_content_a_producers_named_output_before_its_keyless_one(db_instance, isolated):
    """A task's work file (no key) and its published copy (a key), same content, same
    producer: a consumer reading a third path gets the published, named one."""
    run = adapters.start_run("task", "task")
    work = write(isolated / "work" / "ab" / "out.txt", "greeting\n")
    published = write(isolated / "results" / "out.txt", "greeting\n")
    keyless, named = adapters.register_outputs(
        run, [adapters.Output(str(work)), adapters.Output(str(published), "results/out.txt")]
    )
    adapters.finish_run(run, "completed")
    assert keyless.key is None and keyless.id < named.id
    write(isolated / "elsewhere" / "copy.txt", "greeting\n")
    consumer = adapters.start_run("use", "task")
    found = adapters.resolve_inputs(consumer, ["elsewhere/copy.txt"])
    assert [x.uid for x in found if x] == [named.uid]


def test_a_changed_file_at_a_key_is_not_its_old_version(db_instance, isolated):
    old = produce(isolated / "table.csv", "v1\n", "table.csv")
    write(isolated / "table.csv", "v2\n")
    consumer = adapters.start_run("use", "task")
    (found,) = adapters.resolve_inputs(consumer, ["table.csv"])
    assert found.uid != old.uid and found.hash != old.hash
    assert found.key == "table.csv" and found.version == 2 and found.run_id is None


def test_source_data_is_named_by_its_path_with_host_and_location(db_instance, isolated):
    reads = write(isolated / "data" / "samples" / "A.fastq", "@r1\nACGT\n")
    outside = write(isolated.parent / "ref" / "genome.fa", ">chr1\nACGT\n")
    consumer = adapters.start_run("align", "task")
    found = adapters.resolve_inputs(consumer, [reads, outside])
    assert [x.key for x in found if x] == [
        "data/samples/A.fastq",
        str(outside).lstrip(os.sep),  # outside the working directory: its absolute path
    ]
    assert found[0] is not None and found[0].run_id is None
    assert found[0].description == (f"source data read from {reads} on {socket.gethostname()}")
    other = write(isolated / "data" / "samples" / "B.fastq", "@r2\nTTTT\n")
    sub = adapters.resolve_inputs(None, [other], workdir=str(isolated / "data"))
    assert sub[0] is not None and sub[0].key == "samples/B.fastq"  # relative to workdir


def test_equal_source_files_keep_their_own_names(db_instance, isolated):
    write(isolated / "src" / "a.txt", "equal\n")
    write(isolated / "src" / "b.txt", "equal\n")
    first, second = adapters.start_run("one", "job"), adapters.start_run("two", "job")
    (a,) = adapters.resolve_inputs(first, ["src/a.txt"])
    (b,) = adapters.resolve_inputs(second, ["src/b.txt"])  # a separate call, later
    assert a is not None and b is not None and a.hash == b.hash
    assert (a.key, b.key) == ("src/a.txt", "src/b.txt")
    assert (inputs_of(first), inputs_of(second)) == (["src/a.txt"], ["src/b.txt"])


def test_a_file_is_never_the_folder_whose_hash_it_shares(db_instance, isolated):
    write(isolated / "reads" / "r1.txt", "r1\n")
    maker = adapters.start_run("write reads", "task")
    (folder,) = adapters.register_outputs(maker, [adapters.Output("reads", "reads")])
    adapters.finish_run(maker, "completed")
    (line,) = adapters.hash_files([isolated / "reads" / "r1.txt"])
    manifest = write(isolated / "listing.txt", f"r1.txt\t{line}\n")  # the folder's lines
    assert folder.n_files == 1 and adapters.hash_files([manifest]) == [folder.hash]
    (found,) = adapters.resolve_inputs(adapters.start_run("use", "task"), [manifest])
    assert found is not None and found.uid != folder.uid and found.key == "listing.txt"


def test_inputs_hashed_after_the_consumer_started_are_marked_unverified(db_instance, isolated):
    path = write(isolated / "late.txt", "late\n")
    digest = adapters.hash_files([path])[0]
    job = adapters.start_run("job", "task")
    adapters.resolve_inputs(job, [path], at_start=False)
    checked = adapters.start_run("job", "task")
    adapters.resolve_inputs(checked, [Input(path=path, hash=digest)], at_start=False)
    flags = {
        row.run_id: row.unverified
        for row in tl.models.RunInput.select().where(
            tl.models.RunInput.run.in_([job.id, checked.id])
        )
    }
    assert flags == {job.id: True, checked.id: False}


# -- @tl.step: Artifact and path arguments --------------------------------------------------


@tl.step()
def write_csv(stem: str, text: str, pause: float) -> None:
    time.sleep(pause)  # which of the two producers registers first varies
    Path(f"{stem}.csv").write_text(text)
    tl.Artifact(f"{stem}.csv", key=f"{stem}.csv").save()  # an output of this step's run


@tl.step()
def read_csv(table: Any) -> int:
    return len(table.load() if isinstance(table, tl.Artifact) else Path(table).read_text())


def test_steps_in_parallel_with_equal_content_link_the_file_read(db_instance, isolated):
    wrong = []
    for round in range(20):
        text = f"id,value\n{round},0\n"  # new content every round, the same for both files
        with ThreadPoolExecutor(2) as pool:
            pause = 0.02 * (round % 2)
            done = [pool.submit(write_csv, "raw_a", text, pause)]
            done.append(pool.submit(write_csv, "raw_b", text, 0.02 - pause))
            for future in done:
                future.result()
        a = tl.Artifact.get(key="raw_a.csv", is_latest=True)
        b = tl.Artifact.get(key="raw_b.csv", is_latest=True)
        assert a.hash == b.hash and a.run_id != b.run_id
        handed = a if round % 2 else "raw_a.csv"  # the artifact itself, or its path
        read_csv(handed)
        reader = tl.Run.filter(transform__key__endswith="read_csv").order_by("-id").first()
        if [(x.uid, x.run_id) for x in reader.inputs] != [(a.uid, a.run_id)]:
            wrong.append(round)
    assert wrong == []  # 0 wrong links in 20 rounds


@tl.step()
def align(reads: str, genome: Path, out: str) -> str:
    Path(out).write_text(Path(reads).read_text() + Path(genome).read_text())
    tl.Artifact(out, key=out).save()
    return out


def test_step_path_arguments_are_source_data_named_in_every_view(db_instance, isolated):
    write(isolated / "data" / "samples" / "A.fastq", "@r1\nACGT\n")
    write(isolated / "data" / "genome.fa", ">chr1\nACGT\n")
    align("data/samples/A.fastq", isolated / "data" / "genome.fa", "calls.txt")
    run = tl.Run.get(transform__key__endswith="align")
    assert inputs_of(run) == ["data/genome.fa", "data/samples/A.fastq"]  # not "calls.txt"
    shown = CliRunner().invoke(main, ["lineage", "calls.txt"], catch_exceptions=False)
    assert "data/samples/A.fastq" in shown.stdout and "data/genome.fa" in shown.stdout
    described = CliRunner().invoke(main, ["describe", "calls.txt"], catch_exceptions=False)
    assert "data/samples/A.fastq" in described.stdout
    output = tl.Artifact.get(key="calls.txt")
    assert "data/samples/A.fastq" in tl.lineage.mermaid(output)
    names = {node.get("label", "") for node in tl.lineage.graph(output).to_dict()["nodes"]}
    assert any("data/genome.fa" in str(name) for name in names)
    events = json.dumps(export.openlineage_events([run]))
    assert "data/samples/A.fastq" in events and "data/genome.fa" in events
