"""Rows per cleaned sample (a Snakemake ``script:``; ``snakemake`` is injected)."""

import json
from pathlib import Path

counts = {
    Path(p).name.split(".")[0]: len(Path(p).read_text().splitlines())
    for p in snakemake.input  # noqa: F821
}
Path(snakemake.output[0]).write_text(json.dumps(counts, sort_keys=True))  # noqa: F821
