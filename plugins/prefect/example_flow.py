"""A runnable example: a small QC flow recorded by threadline.

    python -m threadline.prefect.example_flow [--samples S1 S2 S3] [--reads 100]

It needs a Prefect API server, like every Prefect flow: ``prefect server start`` in another
terminal (then ``prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api``), or let
Prefect start a temporary one (on a slow machine raise
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``). It writes into the threadline
instance of the working directory (``threadline init``) or the embedded default.
"""

import argparse
import random
from pathlib import Path

import threadline as tl
from threadline.prefect import flow, task


@task
def simulate(sample: str, reads: int) -> Path:
    """Write fake read lengths for one sample: an output, keyed data/<sample>.tsv."""
    rng = random.Random(sample)  # the same sample gives the same bytes: no new version
    path = Path("data") / f"{sample}.tsv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "read\tlength\n" + "".join(f"r{i}\t{rng.randint(50, 150)}\n" for i in range(reads))
    )
    return path


@task
def summarize(tables: list[Path]) -> Path:
    """Mean read length per sample: its inputs are the tables, its output the summary."""
    rows = []
    for table in tables:
        lengths = [int(line.split("\t")[1]) for line in table.read_text().splitlines()[1:]]
        rows.append(f"{table.stem}\t{sum(lengths) / len(lengths):.1f}\n")
    path = Path("results") / "summary.tsv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("sample\tmean_length\n" + "".join(rows))
    return path


@flow(name="example-qc")
def example_qc(samples: list[str], reads: int = 100) -> Path:
    tables = simulate.map(samples, reads)
    return summarize(tables)  # type: ignore[arg-type]  # Prefect passes the futures' results


def main(argv: list[str] | None = None) -> tl.Run:
    parser = argparse.ArgumentParser(description="A small QC flow recorded by threadline.")
    parser.add_argument("--samples", nargs="+", default=["S1", "S2", "S3"])
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args(argv)
    summary = example_qc(args.samples, args.reads)
    artifact = tl.Artifact.get(key=summary.as_posix())
    run = artifact.run.parent  # summarize's run is a child of the flow run
    print(f"flow run {run.uid} ({run.status}), {len(run.children)} task runs")
    print(tl.lineage.render(artifact))
    return run


if __name__ == "__main__":
    main()
