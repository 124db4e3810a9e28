"""The lineage views without a browser: graph, Mermaid, dot, JSON, the notebook object and
the ``view``/``lineage --format`` commands. The page itself is tested in Chromium
(test_lineage_browser.py)."""

import json
import re
from pathlib import Path

import pytest
import threadline as tl
from threadline.errors import InvalidInput

from .lineage_sample import SECRET, build
from .test_cli import cli, fails


@pytest.fixture
def made(local_instance, isolated) -> dict:
    return build(isolated)


def test_graph_nodes_edges_groups_and_details(made):
    report, workflow, align = made["report"], made["workflow"], made["align"]
    g = tl.lineage.graph(report)
    by_id = {n["id"]: n for n in g.nodes}
    assert g.start == f"a{report.id}"
    assert by_id[f"r{workflow.id}"]["children"] == 4  # the rule runs reached
    assert by_id[f"r{align.id}"]["parent"] == f"r{workflow.id}"
    assert by_id[f"r{align.id}"]["engine"] == "snakemake"
    assert by_id[f"r{align.id}"]["params"] == {"threads": 4, "api_token": "***"}
    assert SECRET not in json.dumps(g.to_dict())
    reads = by_id[f"a{made['reads'].id}"]
    assert reads["features"] == {"sample": "S1"} and reads["labels"] == ["sequencing"]
    assert reads["hash"] == f"sha256:{made['reads'].hash}" and reads["size"] == 9
    source = g.transforms[by_id[f"r{align.id}"]["transform"]]["source"]
    assert source.startswith("rule align:")
    assert {"source": f"a{made['bam'].id}", "target": f"r{made['count'].id}", "kind": "input"} in (
        g.edges
    )
    assert f"r{made['failed'].id}" not in by_id  # not upstream of the report
    down = tl.lineage.graph(made["counts"], "downstream")
    assert {n["id"] for n in down.nodes} >= {f"r{made['failed'].id}", f"a{report.id}"}
    both = tl.lineage.graph(made["bam"], "both", depth=1)
    assert {n["id"] for n in both.nodes if n["type"] == "run"} == {
        f"r{align.id}",
        f"r{made['count'].id}",
        f"r{workflow.id}",  # the parent group
    }


def test_mermaid_shapes_classes_groups_and_escaping(made):
    report, reads, genome = made["report"], made["reads"], made["genome"]
    chart = str(tl.lineage.view(report)).splitlines()
    assert chart[0] == "flowchart LR"
    # '#1;' would be read as an entity, '&amp;' shown as '&': both are escaped
    assert f'  a{report.id}["report/S1#35;1;#38;amp;.html v1"]' in chart
    assert f'  a{genome.id}["{genome.uid}.fa v1"]' in chart  # no key: not only the uid
    workflow = made["workflow"]
    start = chart.index(f'  subgraph r{workflow.id}["Snakefile (completed)"]')
    assert chart[start + 1].startswith("    r") and '(completed)"])' in chart[start + 1]
    assert f"  a{reads.id} --> r{made['trim'].id}" in chart
    assert f"  class a{report.id} start" in chart
    assert any(line.startswith("  classDef errored fill:") for line in chart)
    down = str(tl.lineage.view(made["counts"], "downstream"))
    assert f"class r{made['failed'].id} errored" in down or re.search(
        rf"class [r\d,]*r{made['failed'].id}\b[r\d,]* errored", down
    )


def test_mermaid_of_an_in_place_artifact_shows_its_path(local_instance, isolated):
    root = Path(tl.instance().settings.storage)
    (root / "incoming").mkdir(parents=True)
    (root / "incoming" / "sample.csv").write_text("a\n1\n")
    placed = tl.Artifact(str(root / "incoming" / "sample.csv")).save()
    assert placed.in_place and placed.key is None
    assert tl.lineage.artifact_name(placed) == placed.path
    assert f'["{placed.path} v1"]' in tl.lineage.mermaid(placed)


def test_dot_and_json_carry_the_same_edges(made):
    report = made["report"]
    g = tl.lineage.graph(report, details=False)
    dot = tl.lineage.dot(report)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert f"subgraph cluster_r{made['workflow'].id} {{" in dot
    for edge in g.edges:
        assert f"  {edge['source']} -> {edge['target']};" in dot
    walk = tl.lineage.upstream(report).to_dict()
    uid = {n["id"]: n["uid"] for n in g.nodes}
    assert {(e["from"], e["to"]) for e in walk["edges"]} == {
        (uid[e["source"]], uid[e["target"]]) for e in g.edges
    }


def test_notebook_object_renders_html_and_prints_mermaid(made):
    shown = made["report"].view_lineage()  # what Jupyter displays
    assert isinstance(shown, tl.lineage.LineageView)
    assert str(shown) == str(tl.lineage.view(made["report"]))
    assert str(shown).startswith("flowchart LR")
    html = shown._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "&lt;script&gt;" in html
    assert shown._repr_markdown_().startswith("```mermaid\nflowchart LR")
    assert "records" in repr(shown)


def test_html_is_one_self_contained_file(made, isolated):
    path = tl.lineage.html(made["report"], isolated / "v.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<script") == 3
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert "dagre 3.1.4" in text  # the vendored layout library, named with its version
    assert SECRET not in text  # params, features, sources: secrets masked
    data = text.split('<script id="tl-data" type="application/json">')[1].split("</script>")[0]
    assert "</" not in data and json.loads(data)["start"] == f"a{made['report'].id}"


def test_walk_depth_and_direction_checks(made):
    report = made["report"]
    one = tl.lineage.upstream(report, depth=1)
    assert [r.uid for r in one.runs] == [made["report_run"].uid]
    assert {a.uid for a in one.artifacts} == {made["counts"].uid, made["reads"].uid}
    assert len(tl.lineage.upstream(report, depth=2).runs) == 2
    with pytest.raises(InvalidInput, match="depth must be"):
        tl.lineage.upstream(report, depth=0)
    with pytest.raises(InvalidInput, match="direction must be"):
        tl.lineage.graph(report, "sideways")


def test_cli_view_and_formats(made, isolated):
    report = made["report"]
    fails("view", report.uid, "-o", "pages/view.html", match="pages/view.html")
    assert not (isolated / "pages").exists()  # the folder must exist; nothing written
    (isolated / "pages").mkdir()
    ref = "report/S1#1;&amp;.html"
    data = json.loads(cli("view", ref, "-o", "pages/view.html", "--json").stdout)
    assert data["path"] == "pages/view.html" and data["start"] == report.uid
    assert (isolated / "pages" / "view.html").stat().st_size == data["bytes"]
    assert cli("view", made["counts"].uid, "--downstream").stdout.startswith("wrote lineage.html")
    mermaid = cli("lineage", report.uid, "--format", "mermaid").stdout
    assert mermaid == str(tl.lineage.view(report)) + "\n"
    assert cli("lineage", report.uid, "--format", "dot").stdout.startswith("digraph")
    assert cli("lineage", report.uid, "--format", "html").stdout.startswith("<!DOCTYPE html>")
    listed = json.loads(cli("lineage", report.uid, "--format", "json", "--depth", "1").stdout)
    assert [r["uid"] for r in listed["runs"]] == [made["report_run"].uid]
    assert {"from": made["counts"].uid, "to": made["report_run"].uid} in listed["edges"]
    both = cli("lineage", made["bam"].uid, "--both").stdout
    assert both.startswith("upstream and downstream of Artifact align/S1.bam")  # not 'both of'
    assert made["count"].uid in both
    page = cli("lineage", made["bam"].uid, "--both", "--format", "html").stdout
    assert f'"sub">upstream and downstream of artifact {made["bam"].uid}<' in page
    fails("view", "nope", match="no artifact with uid or key 'nope'")
    assert "Invalid value for '--depth'" in cli("view", report.uid, "--depth", "0", code=2).stderr
