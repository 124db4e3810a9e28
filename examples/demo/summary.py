"""What the demo prints at the end: the lineage view, runs per engine, the chain."""

from pathlib import Path

import threadline as tl

ENGINES = ("nextflow", "snakemake", "prefect")


def chain(artifact: tl.Artifact) -> list[tuple[tl.Artifact, tl.Run | None]]:
    """One path from ``artifact`` back to where it started: each artifact with the run
    that wrote it, following that run's first input (keyed inputs first)."""
    steps: list[tuple[tl.Artifact, tl.Run | None]] = []
    seen: set[int] = set()
    current: tl.Artifact | None = artifact
    while current is not None and current.id not in seen:
        seen.add(current.id)
        run = current.run
        steps.append((current, run))
        inputs = sorted(run.inputs, key=lambda a: (a.key is None, a.key or "", a.id)) if run else []
        current = inputs[0] if inputs else None
    return steps


def engines_upstream(artifact: tl.Artifact) -> dict[str, int]:
    """How many runs of each engine ``artifact`` depends on."""
    counts: dict[str, int] = {}
    for run in tl.lineage.upstream(artifact).runs:
        counts[run.engine or "python"] = counts.get(run.engine or "python", 0) + 1
    return counts


def view(best: tl.Artifact, work: Path) -> str:
    """The HTML lineage view's path when threadline has one, else the Mermaid text."""
    html = getattr(tl.lineage, "html", None)
    if html is not None:
        path = work / "lineage.html"
        html(best, path)
        return f"lineage view (HTML): {path}"
    return "lineage (Mermaid):\n" + str(best.view_lineage())


def report(best: tl.Artifact, work: Path, seconds: float) -> None:
    print()
    print(view(best, work))
    print()
    total = tl.Run.filter().count()
    by_engine = {e: tl.Run.filter(engine=e).count() for e in ENGINES}
    print(f"runs: {total} ({', '.join(f'{e} {n}' for e, n in by_engine.items())})")
    kept = tl.Artifact.filter(run=best.run, kind="model").count()
    mlflow_id = best.run.features.get_values().get("mlflow_run_id")
    print(
        f"lightning: {kept} checkpoints kept, outputs of run {best.run.uid}; mlflow run {mlflow_id}"
    )
    print(f"artifacts: {tl.Artifact.filter().count()}")
    upstream = engines_upstream(best)
    print(
        "upstream of the best checkpoint: "
        + ", ".join(f"{n} {e} runs" for e, n in upstream.items())
    )
    print()
    print("the chain, from the best checkpoint back to the Nextflow inputs:")
    for artifact, run in chain(best):
        made_by = f"{run.engine} run {run.name or run.transform.key!r}" if run else "no run"
        print(f"  {artifact.key or artifact.uid + ' (a task file, no key)'}  <-  {made_by}")
    print()
    print(f"done in {seconds:.1f} s. The instance is {work}; try, in that folder:")
    print(f"  threadline lineage {best.key}")
    print("  threadline runs")
