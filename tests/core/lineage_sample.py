"""A small but complete lineage, built through the adapter API as engines build theirs: a
Snakemake workflow run with four rule runs (one errored), source data with and without a
key, features, labels, params with a secret. Used by the view tests and the docs picture."""

from pathlib import Path

import threadline as tl
from threadline import adapters

from tests.harness import write

SECRET = "s3cr3t-t0ken-value"


def build(folder: Path) -> dict[str, object]:
    """The records by role: ``report`` (the last output), ``workflow``, ``align``..."""
    reads = tl.Artifact(write(folder / "data/reads.fastq", "@r1\nACGT\n"), key="raw/reads.fastq")
    reads = reads.save()
    tl.Feature(name="sample", dtype=str).save()
    reads.features.add_values({"sample": "S1"})
    reads.labels.add("sequencing")
    genome = tl.Artifact(write(folder / "data/genome.fa", ">chr1\nAC\n")).save()  # no key
    workflow = adapters.start_run(
        "Snakefile",
        "workflow",
        engine="snakemake",
        source=f"API_TOKEN = '{SECRET}'\nrule all: input: 'report.html'",
    )

    def rule(name, inputs, outputs, status="completed", **fields):
        run = adapters.start_run(
            f"rules/{name}",
            "rule",
            engine="snakemake",
            parent=workflow,
            source=f"rule {name}:\n    shell: '{name} {{input}} > {{output}}'",
            **fields,
        )
        adapters.link_inputs(run, artifacts=inputs)
        made = adapters.register_outputs(
            run,
            [
                adapters.Output(str(write(folder / "out" / key, f"{name} {key}")), key=key)
                for key in outputs
            ],
        )
        adapters.finish_run(
            run, status, error="exit status 1: out of memory" if status == "errored" else None
        )
        return run, made

    trim, (trimmed,) = rule("trim", [reads], ["trim/reads.fastq"], params={"quality": 20})
    align, (bam,) = rule(
        "align",
        [trimmed, genome],
        ["align/S1.bam"],
        params={"threads": 4, "api_token": SECRET},
    )
    count, (counts,) = rule("count", [bam], ["counts/S1.csv"])
    report_run, (report,) = rule("report", [counts, reads], ["report/S1#1;&amp;.html"])
    failed, _ = rule("plot", [counts], [], status="errored")
    adapters.finish_run(workflow)
    return {
        "reads": reads,
        "genome": genome,
        "workflow": workflow,
        "trim": trim,
        "align": align,
        "count": count,
        "report_run": report_run,
        "report": report,
        "failed": failed,
        "bam": bam,
        "counts": counts,
    }
