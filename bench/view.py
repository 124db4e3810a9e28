"""Lineage view benchmark: the HTML view of a big Nextflow run, opened in headless Chromium.

    python bench/view.py [--tasks 100000]

On a fresh embedded instance in a temporary folder: ingest a generated trace (the real
default format, ``--tasks`` tasks plus retries) with ``threadline.nextflow.ingest``, then
time ``tl.lineage.html(pipeline run)`` (the graph query and the page), print the file
size, and open it from a file:// URL in headless Chromium (selenium + chromedriver):
time to first render is the page's own ``performance.now()`` when the graph is drawn
(navigation start to first drawing: parsing the data, layout, SVG). Target: under 5 s.
The Snakemake example workflow (plugins/snakemake/example) is run and viewed first.
Nothing here asserts.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import threadline as tl

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def ingest(folder: Path, tasks: int) -> tl.Run:
    from threadline.nextflow import ingest as nf_ingest

    from tests.plugins.nextflow.synthetic import write_synthetic_trace

    (folder / ".nextflow").mkdir()
    (folder / ".nextflow" / "history").write_text(
        "2026-01-01 09:00:00\t1h\tbench_run\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-bench\tnextflow run bench.nf\n"
    )
    write_synthetic_trace(folder / "trace.txt", tasks)
    nf_ingest(folder)
    return tl.Run.filter(engine="nextflow", parent=None).first()


def open_in_chromium(path: Path) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        started = time.perf_counter()
        driver.get(path.resolve().as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.body.dataset.rendered === '1'")
        )
        wall = time.perf_counter() - started
        first = driver.execute_script("return window.tlFirstRenderMs") / 1000
        shown = driver.execute_script("return document.querySelectorAll('g.node').length")
    finally:
        driver.quit()
    return {"first_render_s": first, "wall_s": wall, "shown": shown}


def snakemake_example(folder: Path) -> None:
    """The Snakemake example workflow's report, viewed: page size and first render."""
    from tests.plugins.snakemake.conftest import run_snakemake

    workdir = folder / "example"
    shutil.copytree(ROOT / "plugins" / "snakemake" / "example", workdir)
    run_snakemake(workdir)
    path = tl.lineage.html(tl.Artifact.get(key="results/report.txt"), folder / "example.html")
    seen = open_in_chromium(path)
    print(
        f"snakemake example: {path.stat().st_size / 2**10:.0f} KiB, first render "
        f"{seen['first_render_s']:.2f} s ({seen['shown']} nodes drawn)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tl.connect(db=f"sqlite:///{tmp}/example.sqlite", storage=f"{tmp}/example-storage")
        snakemake_example(Path(tmp))
        tl.disconnect()
        tl.connect(db=f"sqlite:///{tmp}/db.sqlite", storage=f"{tmp}/storage")
        launch = Path(tmp) / "launch"
        launch.mkdir()
        started = time.perf_counter()
        pipeline = ingest(launch, args.tasks)
        print(f"ingest  {tl.Run.select().count():>8,} runs  {time.perf_counter() - started:8.2f} s")
        started = time.perf_counter()
        path = tl.lineage.html(pipeline, Path(tmp) / "lineage.html")
        written = time.perf_counter() - started
        size = path.stat().st_size
        print(f"html    {size / 2**20:8.1f} MiB  written in {written:.2f} s")
        seen = open_in_chromium(path)
        print(
            f"chromium first render {seen['first_render_s']:.2f} s "
            f"(load to drawn {seen['wall_s']:.2f} s, {seen['shown']} nodes drawn; target 5 s)"
        )
        tl.disconnect()


if __name__ == "__main__":
    main()
