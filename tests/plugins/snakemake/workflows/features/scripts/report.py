"""Number the lines of the gathered file (runs as a Snakemake ``script:``)."""

from pathlib import Path

lines = Path(snakemake.input[0]).read_text().splitlines()  # noqa: F821
text = "".join(f"{i}: {line}\n" for i, line in enumerate(lines, 1))
Path(snakemake.output[0]).write_text(text)  # noqa: F821
