"""Issue 14 for Prefect: an input is the file the task read (never another file of the
same content registered first), and source data keeps its name."""

import os
import socket

import threadline as tl

from tests.plugins.prefect import flows_inputs

ROUNDS = 20


def reader_inputs(flow_run: tl.Run) -> list[tl.Artifact]:
    (reader,) = [r for r in flow_run.children if r.transform.key == "equal-content/read_csv"]
    return list(reader.inputs)


def writer_of(flow_run: tl.Run, stem: str) -> tl.Run:
    (writer,) = [r for r in flow_run.children if r.params.get("stem") == stem]
    return writer


def test_parallel_producers_of_equal_content_link_the_file_read(tracked, isolated):
    wrong = []
    for round in range(ROUNDS):
        by_future = round % 2 == 1  # a path and wait_for, or the producer's future
        flows_inputs.equal_content(round, by_future=by_future)
        flow_run = tl.Run.filter(transform__key="equal-content").order_by("-started_at").first()
        assert flow_run.params == {"round": round, "by_future": by_future}
        a, b = writer_of(flow_run, "raw_a"), writer_of(flow_run, "raw_b")
        (output_a,), (output_b,) = a.outputs, b.outputs
        assert output_a.hash == output_b.hash and output_a.uid != output_b.uid
        linked = reader_inputs(flow_run)
        if [(x.key, x.uid) for x in linked] != [("raw_a.csv", output_a.uid)]:
            wrong.append((round, [x.key for x in linked]))
    assert wrong == []  # 0 wrong links in ROUNDS flows


def test_raw_inputs_are_named_by_their_path(tracked_db, isolated):
    reads = isolated / "data" / "samples" / "A.fastq"
    reads.parent.mkdir(parents=True)
    reads.write_text("@r1\nACGT\n+\nIIII\n")
    genome = isolated / "data" / "genome.fa"
    genome.write_text(">chr1\nACGT\n")
    assert flows_inputs.raw_inputs("data/samples/A.fastq", genome) == 6

    task_run = tl.Run.get(transform__key="raw-inputs/count_reads")
    named = {a.key: a for a in task_run.inputs}
    assert sorted(named) == ["data/genome.fa", "data/samples/A.fastq"]
    assert all(a.run_id is None for a in named.values())  # source data: no run made it
    where = f"read from {os.path.abspath(reads)} on {socket.gethostname()}"
    assert where in named["data/samples/A.fastq"].description
    flow_run = tl.Run.get(transform__key="raw-inputs")  # the flow's arguments: the same
    assert sorted(a.key for a in flow_run.inputs) == sorted(named)
