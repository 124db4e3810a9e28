"""Lineage walks: chains, diamonds, branches, runs, deep graphs in a bounded number of queries."""

import gc
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from tests.harness import write
from tests.sql_log import recorded_sql


def keys(records) -> list:
    return sorted(a.key for a in records)


class Graph:
    """Builds runs and artifacts through the adapters API, as an engine would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def source(self, key: str) -> tl.Artifact:
        return tl.Artifact(write(self.folder / key, f"source {key}"), key=key).save()

    def run(
        self, name: str, inputs: list[tl.Artifact], outputs: list[str], parent: tl.Run | None = None
    ) -> tuple[tl.Run, list[tl.Artifact]]:
        run = adapters.start_run(name, "task", parent=parent)
        adapters.link_inputs(run, artifacts=inputs)
        paths = [write(self.folder / "out" / key, f"{name} made {key}") for key in outputs]
        made = adapters.register_outputs(
            run, [adapters.Output(str(p), key=key) for p, key in zip(paths, outputs, strict=True)]
        )
        adapters.finish_run(run)
        return run, made


@pytest.fixture
def graph(db_instance, isolated) -> Graph:
    return Graph(isolated)


# -- shapes ---------------------------------------------------------------------------------


def test_chain_built_with_flow_and_steps(db_instance, isolated):
    raw = tl.Artifact(write(isolated / "raw.txt", "ACGT"), key="raw/reads.txt").save()

    @tl.step()
    def clean(reads: tl.Artifact) -> tl.Artifact:
        return tl.Artifact(
            write(isolated / "clean.txt", reads.load().lower()), key="clean/reads.txt"
        ).save()

    @tl.step()
    def count(reads: tl.Artifact) -> tl.Artifact:
        return tl.Artifact(
            write(isolated / "n.txt", str(len(reads.load()))), key="stats/n.txt"
        ).save()

    @tl.flow()
    def pipeline(reads: tl.Artifact) -> tl.Artifact:
        return count(clean(reads))

    stats = pipeline(raw)
    flow_run = tl.Run.get(transform__kind="flow")
    clean_run = tl.Run.get(transform__key__endswith="clean")
    count_run = tl.Run.get(transform__key__endswith="count")

    up = tl.lineage.upstream(stats)
    assert keys(up.artifacts) == ["clean/reads.txt", "raw/reads.txt"]
    assert [r.uid for r in up.runs] == [clean_run.uid, count_run.uid]
    assert flow_run.uid not in {r.uid for r in up.runs}  # a parent is not lineage
    down = tl.lineage.downstream(raw)
    assert keys(down.artifacts) == ["clean/reads.txt", "stats/n.txt"]
    # the flow run read raw as its argument, so it is downstream too
    assert {r.uid for r in down.runs} == {flow_run.uid, clean_run.uid, count_run.uid}
    assert tl.lineage.downstream(stats).artifacts == []
    assert tl.lineage.upstream(raw).artifacts == [] and tl.lineage.upstream(raw).runs == []


def test_diamond_lists_each_record_once(graph):
    raw = graph.source("raw.txt")
    left, (a,) = graph.run("left", [raw], ["a.txt"])
    right, (b,) = graph.run("right", [raw], ["b.txt"])
    join, (c,) = graph.run("join", [a, b], ["c.txt"])
    up = tl.lineage.upstream(c)
    assert keys(up.artifacts) == ["a.txt", "b.txt", "raw.txt"]
    assert [r.uid for r in up.runs] == [left.uid, right.uid, join.uid]
    down = tl.lineage.downstream(raw)
    assert keys(down.artifacts) == ["a.txt", "b.txt", "c.txt"]
    assert [r.uid for r in down.runs] == [left.uid, right.uid, join.uid]
    assert keys(tl.lineage.downstream(a).artifacts) == ["c.txt"]
    assert [r.uid for r in tl.lineage.downstream(a).runs] == [join.uid]
    assert keys(tl.lineage.upstream(a).artifacts) == ["raw.txt"]
    assert [r.uid for r in tl.lineage.upstream(a).runs] == [left.uid]


def test_walks_leave_the_garbage_collector_as_they_found_it(graph):
    """Walks pause Python's collector while they build records, then restore it: on
    stays on, off (the caller's choice) stays off."""
    raw = graph.source("raw.txt")
    _, (made,) = graph.run("step", [raw], ["made.txt"])
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            assert keys(tl.lineage.upstream(made).artifacts) == ["raw.txt"]
            assert keys(tl.lineage.downstream(raw).artifacts) == ["made.txt"]
            assert keys(tl.lineage.upstream(made, depth=1).artifacts) == ["raw.txt"]
            assert gc.isenabled() is enabled
        finally:
            gc.enable()


def test_branches_do_not_leak_into_each_other(graph):
    raw = graph.source("raw.txt")
    split, (x, y) = graph.run("split", [raw], ["x.txt", "y.txt"])
    use_x, (z,) = graph.run("use_x", [x], ["z.txt"])
    use_y, _ = graph.run("use_y", [y], ["w.txt"])
    up = tl.lineage.upstream(z)
    assert keys(up.artifacts) == ["raw.txt", "x.txt"]  # not y, the sibling output
    assert [r.uid for r in up.runs] == [split.uid, use_x.uid]
    assert keys(tl.lineage.downstream(x).artifacts) == ["z.txt"]
    assert keys(tl.lineage.downstream(raw).artifacts) == ["w.txt", "x.txt", "y.txt", "z.txt"]
    assert [r.uid for r in tl.lineage.downstream(raw).runs] == [split.uid, use_x.uid, use_y.uid]


def test_results_exclude_the_start_record(graph):
    raw = graph.source("raw.txt")
    run, (out,) = graph.run("step", [raw], ["out.txt"])
    assert out.uid not in {a.uid for a in tl.lineage.upstream(out).artifacts}
    assert raw.uid not in {a.uid for a in tl.lineage.downstream(raw).artifacts}
    assert run.uid not in {r.uid for r in tl.lineage.upstream(run).runs}
    assert run.uid not in {r.uid for r in tl.lineage.downstream(run).runs}


def test_run_walks(graph):
    raw = graph.source("raw.txt")
    first, (mid,) = graph.run("first", [raw], ["mid.txt"])
    second, (end,) = graph.run("second", [mid], ["end.txt"])
    third, _ = graph.run("third", [end], ["report.txt"])
    up = tl.lineage.upstream(second)  # its inputs and everything upstream of them
    assert keys(up.artifacts) == ["mid.txt", "raw.txt"]
    assert [r.uid for r in up.runs] == [first.uid]
    down = tl.lineage.downstream(second)  # its outputs and everything downstream of them
    assert keys(down.artifacts) == ["end.txt", "report.txt"]
    assert [r.uid for r in down.runs] == [third.uid]
    assert [a.key for a in second.outputs] == ["end.txt"]


def test_parent_runs_do_not_leak_in(graph):
    flow = adapters.start_run("flow", "flow")
    raw = graph.source("raw.txt")
    child, (out,) = graph.run("child", [raw], ["out.txt"], parent=flow)
    graph.run("sibling", [], ["other.txt"], parent=flow)
    up = tl.lineage.upstream(out)
    assert [r.uid for r in up.runs] == [child.uid]
    assert keys(up.artifacts) == ["raw.txt"]
    down = tl.lineage.downstream(raw)
    assert [r.uid for r in down.runs] == [child.uid] and keys(down.artifacts) == ["out.txt"]
    assert tl.lineage.upstream(flow).runs == [] and tl.lineage.downstream(flow).runs == []


def test_inputs_without_a_creating_run(graph, isolated):
    run = adapters.start_run("reader", "task")
    unknown = write(isolated / "found-on-disk.txt", "not registered before")
    adapters.link_inputs(run, paths=[unknown])
    _, (out,) = graph.run("writer", [], ["x.txt"])
    adapters.link_inputs(run, artifacts=[out])
    up = tl.lineage.upstream(run)
    # source data keeps the name it was read by (relative to the working directory)
    assert sorted(str(a.key) for a in up.artifacts) == ["found-on-disk.txt", "x.txt"]
    assert [r.transform.key for r in up.runs] == ["writer"]  # nothing created the source
    source = next(a for a in up.artifacts if a.key == "found-on-disk.txt")
    assert source.run_id is None and tl.lineage.artifact_name(source) == "found-on-disk.txt"


def test_to_dict(graph):
    raw = graph.source("raw.txt")
    run, (out,) = graph.run("step", [raw], ["out.txt"])
    data = tl.lineage.upstream(out).to_dict()
    assert data == {
        "artifacts": [
            {"uid": raw.uid, "key": "raw.txt", "version": 1, "hash": raw.hash, "run": None}
        ],
        "runs": [{"uid": run.uid, "transform": "step", "status": "completed", "engine": None}],
        # the reads and writes among the walk's records and its start
        "edges": [{"from": raw.uid, "to": run.uid}, {"from": run.uid, "to": out.uid}],
    }


def test_render_lists_runs_then_artifacts(graph):
    raw = graph.source("raw.txt")
    run, (out,) = graph.run("align", [raw], ["out.bam"])
    text = tl.lineage.render(out)
    assert text.splitlines() == [
        "upstream of Artifact out.bam",
        f"  run {run.uid}  task align (completed)",
        f"  artifact {raw.uid}  raw.txt v1",
    ]
    assert tl.lineage.render(raw, "downstream").splitlines() == [
        "downstream of Artifact raw.txt",
        f"  run {run.uid}  task align (completed)",
        f"  artifact {out.uid}  out.bam v1",
    ]
    assert tl.lineage.render(run).splitlines()[0] == "upstream of Run align"
    # runs of one transform (a process's tasks, a rule's jobs) are told apart by name
    task = adapters.start_run("align", "task", name="align (S2)")
    adapters.link_inputs(task, artifacts=[raw])
    adapters.finish_run(task)
    assert (
        f"  run {task.uid}  task align 'align (S2)' (completed)"
        in tl.lineage.render(raw, "downstream").splitlines()
    )
    assert tl.lineage.render(raw) == "upstream of Artifact raw.txt"
    with pytest.raises(InvalidInput, match="direction must be"):
        tl.lineage.render(raw, "sideways")


def test_walks_refuse_other_objects(db_instance):
    with pytest.raises(InvalidInput, match="not str"):
        tl.lineage.upstream("raw.txt")
    with pytest.raises(InvalidInput, match="saved record"):
        tl.lineage.downstream(tl.Run())


# -- depth ----------------------------------------------------------------------------------


def build_chain(folder: Path, hops: int, tag: str = "chain") -> tuple[tl.Artifact, list]:
    """source -> run 1 -> out 1 -> run 2 -> ... -> out ``hops``, with the adapters API."""
    transform = adapters.get_transform(f"{tag}-hop", "task")
    first = tl.Artifact(write(folder / tag / "0.txt", f"{tag} 0"), key=f"{tag}/0.txt").save()
    runs = [adapters.start_run(transform.key, "task", transform=transform) for _ in range(hops)]
    paths = [write(folder / tag / f"{i}.txt", f"{tag} {i}") for i in range(1, hops + 1)]
    # one bulk save for every output, each under its own run
    outputs = tl.save(
        [
            tl.Artifact(p, key=f"{tag}/{i}.txt", run=run)
            for i, (p, run) in enumerate(zip(paths, runs, strict=True), start=1)
        ]
    )
    for run, consumed in zip(runs, [first, *outputs[:-1]], strict=True):
        adapters.link_inputs(run, artifacts=[consumed])
    return first, outputs


def test_thousand_hop_chain(db_instance, isolated):
    first, outputs = build_chain(isolated, 1000)
    up = tl.lineage.upstream(outputs[-1])
    down = tl.lineage.downstream(first)
    assert len(up.artifacts) == 1000 and len(up.runs) == 1000
    assert [a.key for a in up.artifacts] == ["chain/0.txt"] + [
        f"chain/{i}.txt" for i in range(1, 1000)
    ]
    assert len(down.artifacts) == 1000 and len(down.runs) == 1000
    assert down.artifacts[-1].uid == outputs[-1].uid
    middle = tl.lineage.upstream(outputs[499])
    assert len(middle.artifacts) == 500 and len(middle.runs) == 500
    # its cost is checked by query count (test_walk_costs_a_bounded_number_of_queries), never
    # by the clock: the suite runs on busy machines


def test_walk_costs_a_bounded_number_of_queries(db_instance, isolated):
    counts = {}
    for hops in (3, 300):
        first, outputs = build_chain(isolated, hops, f"c{hops}")
        first_run, last_run = outputs[0].run, outputs[-1].run  # loaded before counting
        with recorded_sql() as statements:
            up = tl.lineage.upstream(outputs[-1])
            down = tl.lineage.downstream(first)
            run_up = tl.lineage.upstream(last_run)
            run_down = tl.lineage.downstream(first_run)
            text = tl.lineage.render(outputs[-1])
            data = up.to_dict()  # runs and transforms come with the walk
        counts[hops] = len(statements)
        assert len(up.artifacts) == hops and len(up.runs) == hops
        assert len(down.artifacts) == hops and len(down.runs) == hops
        assert len(run_up.artifacts) == hops and len(run_up.runs) == hops - 1
        assert len(run_down.artifacts) == hops and len(run_down.runs) == hops - 1
        assert text.count("\n") == 2 * hops and len(data["runs"]) == hops
    assert counts[3] == counts[300], counts
    assert counts[300] <= 11, counts  # 5 walks, two queries each; one for to_dict's edges


def test_mermaid_draws_every_read_and_write(db_instance, isolated):
    Path("a.txt").write_text("a")

    @tl.step("make <b>")
    def make(src: tl.Artifact) -> tl.Artifact:
        Path("b.txt").write_text(src.load() * 2)
        return tl.Artifact("b.txt", key='out/"b".txt').save()

    a = tl.Artifact("a.txt", key="in/a.txt").save()
    b = make(a)
    chart = str(b.view_lineage()).splitlines()
    run = b.run
    assert chart[0] == "flowchart LR"
    assert f'  a{a.id}["in/a.txt v1"]' in chart  # artifacts are boxes
    assert f'  a{b.id}["out/#quot;b#quot;.txt v1"]' in chart  # quotes cannot break out
    assert f'  r{run.id}(["make #lt;b#gt; (completed)"])' in chart  # runs are stadiums
    assert sorted(line for line in chart if "-->" in line) == sorted(
        [f"  a{a.id} --> r{run.id}", f"  r{run.id} --> a{b.id}"]
    )
    down = tl.lineage.mermaid(run, "downstream").splitlines()
    assert f"  r{run.id} --> a{b.id}" in down
    assert f"  class a{a.id},a{b.id} artifact" in chart
    assert f"  class r{run.id} completed" in chart and f"  class a{b.id} start" in chart
    with pytest.raises(tl.errors.InvalidInput, match="direction"):
        b.view_lineage("sideways")
