"""The adapters API: transforms, runs, outputs, inputs, run links, child processes."""

import datetime as dt
import os
import socket
import subprocess
import sys
import threading

import pytest
import threadline as tl
from threadline import adapters
from threadline.adapters import Output
from threadline.errors import InvalidFeatureValue, InvalidInput, NotFound

from tests.harness import write


def input_keys(run: tl.Run) -> list:
    return sorted(str(a.key) for a in tl.Run.get(uid=run.uid).inputs)


def stored_objects() -> list[str]:
    return tl.instance().backend.list(".threadline/objects")


# -- transforms and runs --------------------------------------------------------------------


def test_transform_versions_follow_the_source(db_instance):
    first = adapters.get_transform("qc", "task", source="def qc(): return 1")
    same = adapters.get_transform("qc", "task", source="def qc(): return 1")
    changed = adapters.get_transform("qc", "task", source="def qc(): return 2")
    other = adapters.get_transform("align", "task", source="def qc(): return 1")
    assert same.id == first.id
    assert (first.version, changed.version, other.version) == (1, 2, 1)
    assert changed.key == "qc" and changed.id != first.id
    assert [t.version for t in changed.versions] == [1, 2]
    assert adapters.get_transform("qc", "task", source="def qc(): return 1").id == first.id
    by_hash = adapters.get_transform("rule", "rule", hash="a" * 64, reference="Snakefile:3")
    assert by_hash.hash == "a" * 64 and by_hash.reference == "Snakefile:3"
    assert adapters.get_transform("rule", "rule", hash="a" * 64).id == by_hash.id
    with pytest.raises(InvalidInput, match="non-empty key"):
        adapters.get_transform("", "task")


def test_transform_source_is_stored_redacted(db_instance):
    source = 'API_TOKEN = "abc123secret"\nurl = "postgresql://bob:hunter2@db/x"\n'
    transform = adapters.get_transform("script.py", "script", source=source)
    stored = tl.Transform.get(uid=transform.uid).source
    assert "abc123secret" not in stored and "hunter2" not in stored
    assert "postgresql://bob:***@db/x" in stored


def test_run_lifecycle_and_statuses(db_instance):
    run = adapters.start_run("train", "training", engine="lightning", reference="v3")
    assert (run.status, run.finished_at, run.engine, run.reference) == (
        "started",
        None,
        "lightning",
        "v3",
    )
    assert run.transform.key == "train" and run.transform.kind == "training"
    adapters.finish_run(run)
    stored = tl.Run.get(uid=run.uid)
    assert stored.status == "completed" and stored.finished_at >= stored.started_at
    failed = adapters.start_run("train", "training")
    adapters.finish_run(
        failed,
        "errored",
        error="ValueError: token=sk-abcdefghijklmnopqrstuv",
        traceback="Traceback...\n  password='hunter2'\n",
    )
    stored = tl.Run.get(uid=failed.uid)
    assert stored.status == "errored" and stored.error.startswith("ValueError: token=")
    assert "sk-abcdefghijklmnopqrstuv" not in stored.error
    assert "hunter2" not in stored.traceback
    aborted = adapters.finish_run(adapters.start_run("train", "training"), "aborted")
    assert tl.Run.get(uid=aborted.uid).status == "aborted"
    scheduled = adapters.start_run("train", "training", status="scheduled")
    assert tl.Run.get(uid=scheduled.uid).status == "scheduled"


def test_start_runs_in_bulk(db_instance):
    """Many runs in one statement: the same records as start_run, ids read back in order,
    secrets masked, every item checked before anything is written."""
    workflow = adapters.start_run("wf", "pipeline")
    align = adapters.get_transform("wf/align", "process")
    other = adapters.start_run("other", "pipeline")  # ids of other rows are not mixed in
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000)
    runs = adapters.start_runs(
        [
            {
                "transform": align,
                "parent": workflow,
                "engine": "nextflow",
                "name": f"align ({n})",
                "reference": f"ab/cd{n:04d}",
                "status": "completed",
                "started_at": when,
                "finished_at": when,
                "params": {"n": n, "password": "hunter2"},
            }
            for n in range(1200)
        ]
        + [
            {
                "transform": align,
                "parent": workflow.uid,
                "status": "errored",
                "error": "failed: token=abc123secret",
            }
        ]
    )
    assert len(runs) == 1201 and len({r.id for r in runs}) == 1201
    assert other.id not in {r.id for r in runs}
    for run in (runs[0], runs[777], runs[-1]):
        stored = tl.Run.get(uid=run.uid)
        assert (stored.id, stored.name, stored.reference, stored.status) == (
            run.id,
            run.name,
            run.reference,
            run.status,
        )
        assert stored.parent.uid == workflow.uid and stored.transform.key == "wf/align"
    assert tl.Run.get(reference="ab/cd0777").params == {"n": 777, "password": "***"}
    assert tl.Run.get(reference="ab/cd0777").started_at == when
    assert "abc123secret" not in tl.Run.get(uid=runs[-1].uid).error
    assert runs[-1].started_at is not None  # defaults filled in
    runs[5].features.add_values({"shard": 5}, create_features=True)  # usable records
    assert tl.Run.get(shard=5).uid == runs[5].uid
    before = tl.Run.select().count()
    with pytest.raises(InvalidInput, match="run status must be"):  # nothing made, projects
        adapters.start_runs(
            [{"transform": align, "project": "leak"}, {"transform": align, "status": "done"}]
        )
    assert not tl.Project.filter(name="leak").exists()
    made = adapters.start_runs([{"transform": align, "project": "atlas"}] * 2)
    assert {r.project.name for r in made} == {"atlas"}
    before = tl.Run.select().count()
    for bad, message in (
        ({"parent": workflow}, "needs a saved transform"),
        ({"transform": align, "status": "done"}, "run status must be"),
        ({"transform": align, "colour": "red"}, "unknown or reserved run fields: colour"),
        ({"transform": align, "uid": "x"}, "reserved run fields: uid"),
    ):
        with pytest.raises(InvalidInput, match=message):
            adapters.start_runs([{"transform": align}, bad])
    assert tl.Run.select().count() == before
    assert adapters.start_runs([]) == []


def test_transaction_is_all_or_nothing(db_instance):
    workflow = adapters.start_run("main.nf", "pipeline", engine="nextflow")
    with pytest.raises(RuntimeError), adapters.transaction():
        adapters.start_run("align", "process", parent=workflow, reference="lost")
        adapters.annotate(workflow, {"shards": 3}, create_features=True)
        raise RuntimeError("the ingest failed half way")
    assert tl.Run.filter(parent=workflow).count() == 0
    assert workflow.features.get_values() == {}

    with adapters.transaction():
        adapters.start_run("align", "process", parent=workflow, reference="kept")
    assert [r.reference for r in tl.Run.filter(parent=workflow)] == ["kept"]


@pytest.mark.parametrize("status", ["started", "scheduled", "done", ""])
def test_invalid_final_status_is_refused(db_instance, status):
    run = adapters.start_run("job", "task")
    with pytest.raises(InvalidInput, match="final status must be one of"):
        adapters.finish_run(run, status)
    stored = tl.Run.get(uid=run.uid)
    assert stored.status == "started" and stored.finished_at is None


def test_invalid_start_status_is_refused(db_instance):
    with pytest.raises(InvalidInput, match="run status must be one of"):
        adapters.start_run("job", "task", status="running")
    assert tl.Run.filter().count() == 0


def test_parent_by_run_or_uid(db_instance):
    flow = adapters.start_run("flow", "flow")
    by_run = adapters.start_run("task-a", "task", parent=flow)
    by_uid = adapters.start_run("task-b", "task", parent=flow.uid)
    assert tl.Run.get(uid=by_run.uid).parent.uid == flow.uid
    assert tl.Run.get(uid=by_uid.uid).parent.uid == flow.uid
    assert sorted(r.uid for r in flow.children) == sorted([by_run.uid, by_uid.uid])
    with pytest.raises(NotFound, match="no run with uid 'nosuchrun'"):
        adapters.start_run("task-c", "task", parent="nosuchrun")
    assert tl.Run.filter(transform__key="task-c").count() == 0


def test_params_are_stored_with_secrets_redacted(db_instance):
    params = {
        "lr": 0.1,
        "epochs": 3,
        "name": "baseline",
        "flags": [True, None],
        "password": "hunter2",
        "db_password": "pw",
        "api_key": "k-123",
        "token": "t-456",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "nested": {"github_token": "ghp_x", "path": "/data/in.csv"},
        "db_url": "postgresql://alice:s3cr3t@db.example:5432/prod",
        "mirrors": ["https://bob:pa55@mirror.example/x", "https://mirror.example/y"],
    }
    run = adapters.start_run("job", "task", params=params)
    stored = tl.Run.get(uid=run.uid).params
    for name in ("password", "db_password", "api_key", "token", "AWS_SECRET_ACCESS_KEY"):
        assert stored[name] == "***", name
    assert stored["nested"] == {"github_token": "***", "path": "/data/in.csv"}
    assert stored["db_url"] == "postgresql://alice:***@db.example:5432/prod"
    assert stored["mirrors"] == ["https://bob:***@mirror.example/x", "https://mirror.example/y"]
    assert (stored["lr"], stored["epochs"], stored["name"], stored["flags"]) == (
        0.1,
        3,
        "baseline",
        [True, None],
    )
    text = repr(stored)
    assert all(
        secret not in text
        for secret in ("hunter2", "k-123", "t-456", "s3cr3t", "pa55", "aws-secret", "ghp_x")
    )


def test_activate_makes_saved_artifacts_belong_to_the_run(local_instance, isolated):
    run = adapters.start_run("job", "task")
    other = adapters.start_run("other", "task")
    with adapters.activate(run) as active:
        assert active is run and tl.context.run.uid == run.uid
        inside = tl.Artifact(write(isolated / "in.txt", "in"), key="in.txt").save()
        with adapters.activate(other):
            nested = tl.Artifact(write(isolated / "n.txt", "n"), key="n.txt").save()
        after_nested = tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    outside = tl.Artifact(write(isolated / "out.txt", "out"), key="out.txt").save()
    assert inside.run.uid == run.uid and after_nested.run.uid == run.uid
    assert nested.run.uid == other.uid
    assert outside.run is None and tl.context.run is None
    assert sorted(a.key for a in run.outputs) == ["a.txt", "in.txt"]


def test_activate_restores_on_error(local_instance):
    run = adapters.start_run("job", "task")
    with pytest.raises(RuntimeError), adapters.activate(run):
        raise RuntimeError("engine failure")
    assert tl.context.run is None


# -- outputs --------------------------------------------------------------------------------


def test_register_outputs_in_bulk_with_features(instance, isolated):
    run = adapters.start_run("job", "task")
    files = [write(isolated / "out" / f"{i}.txt", f"output {i}") for i in range(60)]
    outputs = [
        Output(str(p), key=f"results/{i}.txt", features={"index": i}) for i, p in enumerate(files)
    ]
    made = adapters.register_outputs(
        run, outputs, features={"batch": "b1", "index": -1}, kind="dataset"
    )
    assert [a.key for a in made] == [f"results/{i}.txt" for i in range(60)]
    assert all(a.run_id == run.id and a.kind == "dataset" and a.version == 1 for a in made)
    assert made[7].features.get_values() == {"batch": "b1", "index": 7}  # own values win
    assert {f.name: f.dtype for f in tl.Feature.filter()} == {"batch": "str", "index": "int"}
    assert tl.Artifact.filter(run=run).count() == 60
    assert tl.Artifact.filter(batch="b1", index__gte=50).count() == 10
    assert made[3].load() == "output 3"


def test_register_outputs_of_many_runs_in_one_call(local_instance, isolated):
    first, second = (adapters.start_run("rules/x", "rule") for _ in range(2))
    for name in ("a.txt", "b.txt", "c.txt"):
        (isolated / name).write_text(name)
    saved = adapters.register_outputs(
        first,
        ["a.txt", Output("b.txt", run=second), Output("c.txt", key="c.txt", run=second)],
        features={"rule": "x"},
    )
    assert [a.run.uid for a in saved] == [first.uid, second.uid, second.uid]
    assert all(a.features.get_values() == {"rule": "x"} for a in saved)


def test_register_outputs_links_categorical_labels(db_instance, isolated):
    tl.Feature(name="rule", dtype="cat[Label]").save()
    run = adapters.start_run("job", "task")
    files = [write(isolated / f"{i}.bam", f"bam {i}") for i in range(4)]
    made = adapters.register_outputs(
        run,
        [Output(str(p), features={"rule": f"r{i % 2}"}) for i, p in enumerate(files)],
        features={"tags": ["x", "y"]},
    )
    assert [[lb.name for lb in a.labels.all()] for a in made] == [["r0"], ["r1"], ["r0"], ["r1"]]
    assert sorted(lb.name for lb in tl.Label.filter()) == ["r0", "r1"]
    assert tl.Artifact.filter(labels="r1").count() == 2
    assert tl.Artifact.filter(tags="y").count() == 4


def test_register_outputs_again_is_idempotent_and_new_content_versions(instance, isolated):
    run = adapters.start_run("job", "task")
    files = [write(isolated / f"{i}.txt", f"v1 {i}") for i in range(5)]
    first = adapters.register_outputs(
        run, [Output(str(p), key=f"r/{i}.txt") for i, p in enumerate(files)]
    )
    again = adapters.register_outputs(
        run, [Output(str(p), key=f"r/{i}.txt") for i, p in enumerate(files)]
    )
    assert [a.uid for a in again] == [a.uid for a in first]
    assert tl.Artifact.filter(key__startswith="r/").count() == 5
    write(files[2], "v2 2")
    rerun = adapters.start_run("job", "task")
    third = adapters.register_outputs(
        rerun, [Output(str(p), key=f"r/{i}.txt") for i, p in enumerate(files)]
    )
    assert [a.version for a in third] == [1, 1, 2, 1, 1]
    assert third[2].run_id == rerun.id and third[0].uid == first[0].uid
    assert tl.Artifact.get(key="r/2.txt").uid == third[2].uid
    assert [v.version for v in tl.Artifact.get(key="r/2.txt").versions] == [1, 2]


def test_register_outputs_accepts_plain_paths(local_instance, isolated):
    run = adapters.start_run("job", "task")
    a, b = write(isolated / "a.csv", "1,2"), write(isolated / "b.csv", "3,4")
    made = adapters.register_outputs(run, [a, str(b)])
    assert [x.key for x in made] == [None, None] and [x.suffix for x in made] == [".csv"] * 2
    assert all(x.run_id == run.id for x in made)
    assert adapters.register_outputs(run, []) == []


def test_register_outputs_checks_features_before_storing(instance, isolated):
    tl.Feature(name="index", dtype=int).save()
    run = adapters.start_run("job", "task")
    files = [write(isolated / f"{i}.txt", f"out {i}") for i in range(3)]
    outputs = [
        Output(str(files[0]), key="a.txt", features={"index": 0}),
        Output(str(files[1]), key="b.txt", features={"index": "one"}),
        Output(str(files[2]), key="c.txt", features={"index": 2}),
    ]
    with pytest.raises(InvalidFeatureValue, match="'index' expects int, got 'one'"):
        adapters.register_outputs(run, outputs)
    # inferred from the first output, then refused for the second: still nothing written
    mixed = [
        Output(str(files[0]), key="a.txt", features={"score": 1}),
        Output(str(files[1]), key="b.txt", features={"score": "high"}),
    ]
    with pytest.raises(InvalidFeatureValue, match="'score' expects int"):
        adapters.register_outputs(run, mixed)
    assert tl.Artifact.filter().count() == 0
    assert stored_objects() == []
    assert tl.Feature.get_or_none(name="score") is None


# -- inputs ---------------------------------------------------------------------------------


def test_link_inputs_by_path_finds_same_content_under_another_key(instance, isolated):
    known = tl.Artifact(write(isolated / "reads.fq", "@r1\nACGT\n"), key="raw/reads.fq").save()
    copy = write(isolated / "elsewhere" / "copy.fq", "@r1\nACGT\n")
    run = adapters.start_run("align", "task")
    linked = adapters.link_inputs(run, paths=[copy])
    assert [a.uid for a in linked] == [known.uid]
    assert input_keys(run) == ["raw/reads.fq"]
    assert tl.Artifact.filter().count() == 1  # nothing new registered


def test_link_inputs_registers_unknown_paths_as_named_source_data(instance, isolated):
    run = adapters.start_run("align", "task")
    first = write(isolated / "data" / "ref.fa", ">chr1\nNNNN\n")
    same_bytes = write(isolated / "copy-of-ref.fa", ">chr1\nNNNN\n")
    other = write(isolated / "genes.gtf", "gene\n")
    with adapters.activate(run):  # even while the reading run is current
        linked = adapters.link_inputs(run, paths=[first, same_bytes, other])
    # source data keeps where it was read from: one record per name, even for equal bytes
    assert [a.key for a in linked] == ["data/ref.fa", "copy-of-ref.fa", "genes.gtf"]
    assert all(a.run_id is None for a in linked)
    assert f"read from {first} on {socket.gethostname()}" in linked[0].description
    assert tl.Artifact.filter().count() == 3
    assert input_keys(run) == ["copy-of-ref.fa", "data/ref.fa", "genes.gtf"]
    assert linked[0].load() == ">chr1\nNNNN\n"
    again = adapters.link_inputs(run, paths=[same_bytes])  # now known: found at its key
    assert [a.uid for a in again] == [linked[1].uid] and tl.Artifact.filter().count() == 3


def test_link_inputs_can_skip_unknown_paths(local_instance, isolated):
    run = adapters.start_run("align", "task")
    linked = adapters.link_inputs(
        run, paths=[write(isolated / "x.txt", "x")], register_unknown=False
    )
    assert linked == [] and tl.Artifact.filter().count() == 0
    assert input_keys(run) == []


def test_link_inputs_missing_path_is_refused(local_instance, isolated):
    run = adapters.start_run("align", "task")
    known = tl.Artifact(write(isolated / "k.txt", "k"), key="k.txt").save()
    with pytest.raises(InvalidInput, match=r"input path not found: .*nope\.txt"):
        adapters.link_inputs(run, artifacts=[known], paths=[isolated / "nope.txt"])
    assert input_keys(run) == []


def test_link_inputs_in_place_object_under_storage_root(instance, isolated):
    inst = tl.instance()
    source = write(isolated / "published.txt", "published by an engine")
    inst.backend.put_file(str(source), "results/published.txt")
    run = adapters.start_run("report", "task")
    with adapters.activate(run):
        (linked,) = adapters.link_inputs(run, paths=[inst.backend.uri("results/published.txt")])
    assert linked.in_place and linked.path == "results/published.txt" and linked.run_id is None
    assert input_keys(run) == ["None"]
    keyed = tl.Artifact(source, key="pub/published.txt").save()  # same bytes, with a key
    later = adapters.start_run("report", "task")
    (found,) = adapters.link_inputs(later, paths=[inst.backend.uri("results/published.txt")])
    assert found.uid == linked.uid != keyed.uid  # at its path first, not any equal content


def test_link_inputs_by_hash(instance, isolated):
    known = tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    run = adapters.start_run("job", "task")
    assert [a.uid for a in adapters.link_inputs(run, hashes=[known.hash])] == [known.uid]
    assert input_keys(run) == ["a.txt"]
    other = adapters.start_run("job", "task")
    with pytest.raises(NotFound, match="no artifact has hash " + "0" * 64):
        adapters.link_inputs(other, artifacts=[known], hashes=["0" * 64])
    assert input_keys(other) == []  # nothing linked when one hash is unknown


def test_link_inputs_by_artifact_is_idempotent_and_skips_own_outputs(db_instance, isolated):
    raw = tl.Artifact(write(isolated / "raw.txt", "raw"), key="raw.txt").save()
    run = adapters.start_run("job", "task")
    (own,) = adapters.register_outputs(
        run, [Output(str(write(isolated / "o.txt", "o")), key="o.txt")]
    )
    adapters.link_inputs(run, artifacts=[raw, own])
    adapters.link_inputs(run, artifacts=[raw])
    assert input_keys(run) == ["raw.txt"]
    assert [r.uid for r in raw.input_of] == [run.uid]
    unsaved = tl.Artifact(isolated / "raw.txt", key="x.txt")
    with pytest.raises(InvalidInput, match="saved artifacts"):
        adapters.link_inputs(run, artifacts=[unsaved])


def test_link_inputs_from_a_worker_thread_does_not_claim_inputs(local_instance, isolated):
    run = adapters.start_run("job", "task")
    path = write(isolated / "seen-in-thread.txt", "thread input")
    result: list[tl.Artifact] = []
    with adapters.activate(run):
        worker = threading.Thread(
            target=lambda: result.extend(adapters.link_inputs(run, paths=[path]))
        )
        worker.start()
        worker.join()
    assert result[0].run_id is None
    assert input_keys(run) == ["seen-in-thread.txt"]  # source data, named by its path


# -- run links, annotations, child processes ------------------------------------------------


def test_link_runs_and_upstream_runs(db_instance):
    fetch = adapters.start_run("fetch", "task")
    index = adapters.start_run("index", "task")
    align = adapters.start_run("align", "task")
    adapters.link_runs([(fetch, align), (index, align)])
    adapters.link_runs([(index, align)])  # recorded once
    assert [r.uid for r in align.upstream_runs] == [fetch.uid, index.uid]
    assert fetch.upstream_runs == [] and index.upstream_runs == []
    with pytest.raises(InvalidInput, match="its own upstream"):
        adapters.link_runs([(align, align)])
    with pytest.raises(InvalidInput, match="pairs"):
        adapters.link_runs([align])  # type: ignore[list-item]


def test_annotate_runs_and_artifacts(db_instance, isolated):
    run = adapters.start_run("job", "task")
    adapters.annotate(run, {"threads": 4, "rule": "align"}, create_features=True)
    assert run.features.get_values() == {"threads": 4, "rule": "align"}
    artifact = tl.Artifact(write(isolated / "a.txt", "a"), key="a.txt").save()
    adapters.annotate(artifact, {"rule": "align"})
    assert [a.uid for a in tl.Artifact.filter(rule="align")] == [artifact.uid]


def test_child_environment_names_instance_and_run(db_instance):
    inst = tl.instance()
    assert adapters.child_environment() == {
        "THREADLINE_DB": inst.settings.db,
        "THREADLINE_STORAGE": inst.settings.storage,
    }
    run = adapters.start_run("flow", "flow")
    env = adapters.child_environment(run)
    assert env["THREADLINE_PARENT_RUN"] == run.uid
    with adapters.activate(run):
        assert adapters.child_environment()["THREADLINE_PARENT_RUN"] == run.uid


def test_child_process_writes_under_the_parent_run(db_instance, isolated):
    run = adapters.start_run("flow", "flow")
    script = write(
        isolated / "child.py",
        "\n".join(
            [
                "import threadline as tl",
                "tl.track(params={'job': 1})",
                "open('made.txt', 'w').write('from the child')",
                "tl.Artifact('made.txt', key='child/made.txt').save()",
                "tl.finish()",
            ]
        ),
    )
    env = {**os.environ, **adapters.child_environment(run)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=isolated,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    child = tl.Run.get(parent=run)
    assert child.status == "completed" and child.params == {"job": 1}
    assert tl.Artifact.get(key="child/made.txt").run_id == child.id


def test_module_docstring_lists_the_whole_api():
    doc = adapters.__doc__ or ""
    assert adapters.__all__ == sorted(adapters.__all__)
    assert [n for n in adapters.__all__ if f"``{n}``" not in doc and f"``{n}(" not in doc] == []


def test_runs_announce_themselves_to_a_live_openlineage_endpoint(
    local_instance, isolated, monkeypatch
):
    """Every way the adapter API opens or closes runs sends their live events (a real
    HTTP receiver on 127.0.0.1)."""
    from threadline import _openlineage_send
    from threadline.export import run_id

    from tests.core.test_export import Receiver

    receiver = Receiver()
    try:
        monkeypatch.setenv("THREADLINE_OPENLINEAGE_URL", receiver.url)
        flow = adapters.start_run("flow", "flow")
        done = adapters.start_runs(
            [{"transform": flow.transform, "parent": flow, "status": "completed"}]
        )[0]
        waiting = adapters.start_run("task", "task", parent=flow, status="scheduled")
        adapters.update_run(waiting, status="started")
        adapters.abort_children(flow)
        adapters.finish_run(flow, "errored", error="boom")
        assert _openlineage_send.live_sender(receiver.url).flush(timeout=60)
    finally:
        receiver.close()
    got = {(b["eventType"], b["run"]["runId"]) for _, b in receiver.received}
    assert got == {
        ("START", run_id(flow.uid)),
        ("FAIL", run_id(flow.uid)),
        ("START", run_id(done.uid)),
        ("COMPLETE", run_id(done.uid)),
        ("START", run_id(waiting.uid)),
        ("ABORT", run_id(waiting.uid)),
    }


def test_names_and_references_are_redacted_as_identifiers(db_instance):
    """A run's name or reference masks ``name=value`` and ``--flag value``, never the
    word after a secret-looking one in a plain name (a rule called get_token)."""
    run = adapters.start_run(
        "rules/get_token", "rule", name="get_token (sample=A)", reference="--token abc"
    )
    named = adapters.start_run("x", "task", name="login token=abc", reference="job api_key=k/7")
    assert (run.name, run.reference) == ("get_token (sample=A)", "--token ***")
    assert (named.name, named.reference) == ("login token=***", "job api_key=***/7")
    assert tl.Run.get(name="get_token (sample=A)").uid == run.uid


def test_runs_carry_the_recording_process_unless_given(db_instance):
    """Every run names a host and a process (what ``threadline check`` asks after when a
    run stays open); what the engine knows wins."""
    import socket

    mine = adapters.start_run("job", "task")
    given = adapters.start_run("job", "task", hostname="node-7", pid=4242)
    (bulk,) = adapters.start_runs([{"transform": mine.transform, "hostname": None}])
    for run in (mine, bulk):
        run = tl.Run.get(uid=run.uid)
        assert (run.hostname, run.pid) == (socket.gethostname(), os.getpid())
        assert run.process_start is not None
    given = tl.Run.get(uid=given.uid)
    assert (given.hostname, given.pid, given.process_start) == ("node-7", 4242, None)
    elsewhere = tl.Run.get(uid=adapters.start_run("job", "task", hostname="node-8").uid)
    assert (elsewhere.hostname, elsewhere.pid) == ("node-8", None)  # not our pid there
