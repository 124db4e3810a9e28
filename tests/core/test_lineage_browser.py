"""The HTML lineage view in a real headless Chromium (selenium + chromedriver): it renders
the expected nodes and edges without console errors, offline, from a file:// URL; a click
shows a record's details; the search finds records by key, uid and feature value; big
groups start folded."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import threadline as tl

from .lineage_sample import SECRET, build

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "snakemake" / "example"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Chromium and chromedriver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        # no network at all: a page that fetched anything would log a console error
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def open_view(browser, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(path.resolve().as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.body.dataset.rendered === '1'")
    )


def shown(browser) -> dict[str, str]:
    """Drawn nodes: id -> class."""
    return browser.execute_script(
        "var r = {}; document.querySelectorAll('g.node').forEach(function (n) {"
        " r[n.dataset.id] = n.getAttribute('class'); }); return r;"
    )


def drawn_edges(browser) -> set[tuple[str, str]]:
    pairs = browser.execute_script(
        "return Array.from(document.querySelectorAll('g.edge')).map("
        "function (e) { return [e.dataset.source, e.dataset.target]; });"
    )
    return {tuple(p) for p in pairs}


def errors_logged(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_view_renders_nodes_edges_and_details(local_instance, isolated, browser):
    made = build(isolated)
    report, workflow = made["report"], made["workflow"]
    path = tl.lineage.html(report, isolated / "lineage.html")
    text = path.read_text()
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    open_view(browser, path)
    nodes = shown(browser)
    g = tl.lineage.graph(report)
    expected = {n["id"] for n in g.nodes}
    assert set(nodes) == expected  # a small group is drawn unfolded: every record
    assert f"a{report.id}" in nodes and "start" in nodes[f"a{report.id}"]
    assert "status-completed" in nodes[f"r{made['trim'].id}"]
    assert "artifact" in nodes[f"a{made['reads'].id}"]
    assert {(e["source"], e["target"]) for e in g.edges} == drawn_edges(browser)
    groups = browser.execute_script(
        "return Array.from(document.querySelectorAll('g.cluster')).map(function (c) {"
        " return c.dataset.group; });"
    )
    assert groups == [f"r{workflow.id}"]  # the workflow run is a group around its rules
    assert errors_logged(browser) == []

    browser.find_element("css selector", f'g.node[data-id="r{made["align"].id}"]').click()
    details = browser.find_element("id", "tl-details").text
    assert made["align"].uid in details and "snakemake" in details
    assert "rules/align v1 (rule)" in details and SECRET not in details  # params redacted
    browser.find_element("css selector", f'g.node[data-id="a{made["reads"].id}"]').click()
    details = browser.find_element("id", "tl-details").text
    assert "raw/reads.fastq" in details and made["reads"].hash in details
    assert "feature sample" in details and "S1" in details and "sequencing" in details
    assert errors_logged(browser) == []


def test_search_and_errors(local_instance, isolated, browser):
    made = build(isolated)
    path = tl.lineage.html(made["counts"], isolated / "down.html", "downstream")
    open_view(browser, path)
    nodes = shown(browser)
    failed = f"r{made['failed'].id}"
    assert "status-errored" in nodes[failed]
    browser.find_element("css selector", f'g.node[data-id="{failed}"]').click()
    assert "out of memory" in browser.find_element("id", "tl-panel").text
    path = tl.lineage.html(made["report"], isolated / "up.html")
    open_view(browser, path)
    search = browser.find_element("id", "tl-search")
    for query, record in (("S1.bam", made["bam"]), (made["trim"].uid, made["trim"])):
        search.clear()
        search.send_keys(query + "\n")
        node_id = ("a" if isinstance(record, tl.Artifact) else "r") + str(record.id)
        assert "match" in shown(browser)[node_id], query
    search.clear()
    search.send_keys("S1\n")  # a feature value: the reads carry sample = S1
    assert "match" in shown(browser)[f"a{made['reads'].id}"]
    assert errors_logged(browser) == []


def test_big_group_starts_folded_with_counts(local_instance, isolated, browser):
    from threadline import adapters

    pipeline = adapters.start_run("main.nf", "pipeline", engine="nextflow")
    task = adapters.get_transform("main.nf/align", "process")
    statuses = ["completed"] * 95 + ["errored"] * 5
    adapters.start_runs(
        [
            {
                "transform": task,
                "parent": pipeline,
                "engine": "nextflow",
                "name": f"align ({n})",
                "status": status,
            }
            for n, status in enumerate(statuses)
        ]
    )
    path = tl.lineage.html(pipeline, isolated / "nf.html")
    open_view(browser, path)
    nodes = shown(browser)
    assert list(nodes) == [f"r{pipeline.id}"] and "folded" in nodes[f"r{pipeline.id}"]
    label = browser.find_element("css selector", f'g.node[data-id="r{pipeline.id}"]').text
    assert "100 runs" in label and "95 completed" in label and "5 errored" in label
    browser.find_element("css selector", f'g.node[data-id="r{pipeline.id}"]').click()
    assert len(shown(browser)) == 101  # unfolded: the pipeline and its 100 tasks
    data = json.loads(browser.execute_script("return document.getElementById('tl-data').text"))
    assert len(data["nodes"]) == 101
    assert errors_logged(browser) == []


def test_group_of_one_child_says_one_run(local_instance, isolated, browser):
    from threadline import adapters

    flow = adapters.start_run("main", "flow")
    step = adapters.start_run("main/clean", "step", parent=flow)
    adapters.finish_run(step, "completed")
    adapters.finish_run(flow, "completed")
    open_view(browser, tl.lineage.html(flow, isolated / "one.html"))
    title = browser.find_element("css selector", f'g.cluster[data-group="r{flow.id}"]').text
    assert title.endswith(" · 1 run"), title  # was '1 runs'
    assert errors_logged(browser) == []


def test_first_view_of_a_long_chain_is_readable(local_instance, isolated, browser):
    """Fitting 40 hops into the window drew the text a few pixels high: the first view
    keeps a readable size and shows the starting record; Fit still shows everything."""
    from .test_lineage import build_chain

    _, outputs = build_chain(isolated, 40)
    open_view(browser, tl.lineage.html(outputs[-1], isolated / "chain.html"))
    start = f'g.node[data-id="a{outputs[-1].id}"]'
    box = browser.execute_script(
        "var r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "var c = document.getElementById('tl-canvas').getBoundingClientRect();"
        "return [r.left - c.left, r.right - c.left, r.width, c.width];",
        start,
    )
    left, right, width, canvas = box
    assert left >= 0 and right <= canvas, box  # the starting record is in sight
    assert width >= 0.5 * 120, box  # at a readable size (nodes are at least 120 px wide)
    browser.find_element("id", "tl-fit").click()
    assert len(shown(browser)) == 81 and errors_logged(browser) == []


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None, reason="needs the snakemake extra"
)
def test_snakemake_example_workflow_view(local_instance, tmp_path, browser, monkeypatch):
    from tests.plugins.snakemake.conftest import run_snakemake

    monkeypatch.setenv("THREADLINE_STRICT", "1")
    workdir = tmp_path / "example"
    shutil.copytree(EXAMPLE, workdir)
    run_snakemake(workdir)
    report = tl.Artifact.get(key="results/report.txt")
    path = tl.lineage.html(report, tmp_path / "example.html")
    open_view(browser, path)
    nodes = shown(browser)
    g = tl.lineage.graph(report)
    assert set(nodes) == {n["id"] for n in g.nodes}
    runs = [n for n in g.nodes if n["type"] == "run"]
    assert {n["engine"] for n in runs} == {"snakemake"}
    assert drawn_edges(browser) == {(e["source"], e["target"]) for e in g.edges}
    assert browser.execute_script("return window.tlFirstRenderMs") > 0
    assert errors_logged(browser) == []
