"""Examples of docs/lineage.md, run for real."""

import json

import threadline as tl

from .test_examples_query import make_samples


def merge_samples() -> tl.Artifact:
    make_samples()
    # -- start lineage-walk --
    from pathlib import Path

    @tl.step("merge")
    def merge(bams: list[tl.Artifact]) -> tl.Artifact:
        Path("merged.bam").write_text("".join(Path(b.cache()).read_text() for b in bams))
        return tl.Artifact("merged.bam", key="merged/all.bam").save()

    merged = merge(tl.Artifact.filter(key__startswith="aligned/").order_by("key").all())

    up = tl.lineage.upstream(merged)  # any depth, the start excluded
    assert [a.key for a in up.artifacts] == [
        "raw/S1.fastq",
        "raw/S2.fastq",
        "aligned/S1.bam",
        "aligned/S2.bam",
    ]
    assert [r.transform.key for r in up.runs] == ["align", "align", "merge"]
    assert (up.artifacts[-1].uid, merged.run.uid) in up.edges  # an input read

    down = tl.lineage.downstream(tl.Artifact.get(key="raw/S1.fastq"))
    assert [a.key for a in down.artifacts] == ["aligned/S1.bam", "merged/all.bam"]
    near = tl.lineage.upstream(merged, depth=1)  # one run back: merge and its inputs
    assert [a.key for a in near.artifacts] == ["aligned/S1.bam", "aligned/S2.bam"]
    # -- end lineage-walk --
    return merged


def test_lineage(local_instance, isolated):
    merged = merge_samples()
    up = tl.lineage.upstream(merged)
    data = up.to_dict()
    assert [a["key"] for a in data["artifacts"]][-1] == "aligned/S2.bam"
    assert data["runs"][-1] == {
        "uid": merged.run.uid,
        "transform": "merge",
        "status": "completed",
        "engine": "python",
    }
    run_up = tl.lineage.upstream(merged.run)  # a run's upstream includes its inputs
    assert [a.key for a in run_up.artifacts] == [a.key for a in up.artifacts]
    assert merged.run.uid not in [r.uid for r in run_up.runs]
    align_s1 = tl.Artifact.get(key="aligned/S1.bam").run
    run_down = tl.lineage.downstream(align_s1)  # a run's downstream includes its outputs
    assert [a.key for a in run_down.artifacts] == ["aligned/S1.bam", "merged/all.bam"]
    assert [r.uid for r in run_down.runs] == [merged.run.uid]


def test_lineage_views(local_instance, isolated):
    merged = merge_samples()
    # -- start lineage-html --
    page = tl.lineage.html(merged, "lineage.html")  # or "downstream"/"both", depth=N
    assert page.read_text().startswith("<!DOCTYPE html>")  # one file: open it anywhere

    view = merged.view_lineage()  # in Jupyter: the same page, inline
    chart = str(view)  # the Mermaid text
    assert chart.startswith("flowchart LR")
    assert '["aligned/S1.bam v1"]' in chart  # artifacts are boxes
    assert '(["merge (completed)"])' in chart  # runs are rounded, coloured by status
    assert "subgraph r" in chart and '["map-reads (completed)"]' in chart  # parent runs
    # -- end lineage-html --
    assert page.stat().st_size > 50_000
    assert "<iframe" in tl.lineage.view(merged)._repr_html_()
    # -- start lineage-graph --
    graph = tl.lineage.graph(merged)  # what every view draws
    node = next(n for n in graph.nodes if n["key"] == "aligned/S1.bam")
    assert node["type"] == "artifact" and node["features"] == {"sample": "S1"}
    merge_run = next(n["id"] for n in graph.nodes if n["label"] == "merge (completed)")
    assert {"source": node["id"], "target": merge_run, "kind": "input"} in graph.edges
    dot = tl.lineage.dot(merged)  # Graphviz: dot -Tsvg
    assert dot.startswith("digraph lineage {")
    # -- end lineage-graph --
    assert json.dumps(graph.to_dict())


def test_lineage_render_and_describe(local_instance, isolated, capsys):
    make_samples()
    # -- start lineage-describe --
    bam = tl.Artifact.get(key="aligned/S1.bam")
    print(tl.lineage.render(bam))  # the same text as `threadline lineage aligned/S1.bam`
    bam.describe()  # identity, storage, run and transform, inputs, features, labels

    assert bam.run.transform.key == "align" and bam.transform.key == "align"
    assert [a.key for a in bam.run.inputs] == ["raw/S1.fastq"]
    assert bam.run.parent.transform.key == "map-reads"
    # -- end lineage-describe --
    out = capsys.readouterr().out
    assert out.startswith("upstream of Artifact aligned/S1.bam\n")
    assert "artifact " in out and "raw/S1.fastq v1" in out
    assert "Artifact aligned/S1.bam  v1  (latest)" in out
    assert "transform: align v1 (step)" in out and "sample = 'S1'" in out
    text = bam.describe(as_text=True)
    assert text is not None and text in out


def test_openlineage(local_instance, isolated):
    merge_samples()
    # -- start lineage-openlineage --
    events = tl.export.openlineage_events()  # every run; or a list of runs, since=...
    merge = events[-1]  # in time order (a flow's end comes after its steps')
    assert (merge["eventType"], merge["job"]["name"]) == ("COMPLETE", "merge")
    dataset = merge["outputs"][0]
    assert dataset["namespace"] == "file"  # an absolute path in the local file system
    assert dataset["name"] == tl.Artifact.get(key="merged/all.bam").uri
    assert dataset["facets"]["threadline"]["key"] == "merged/all.bam"
    assert [d["facets"]["threadline"]["key"] for d in merge["inputs"]] == [
        "aligned/S1.bam",
        "aligned/S2.bam",
    ]
    # -- end lineage-openlineage --
