"""The Nextflow config threadline needs: weblog to the receiver, a raw trace, lineage."""

from ._trace import EXTENDED_FIELDS

DEFAULT_PORT = 8765
TRACE_FILE = "threadline-trace.txt"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_text(
    url: str | None = None,
    *,
    token: str | None = None,
    trace_file: str = TRACE_FILE,
    lineage: bool = True,
    lineage_dir: str | None = None,
) -> str:
    """A Nextflow config file (Groovy syntax) for ``-c`` or to paste into nextflow.config.

    ``url`` is the weblog receiver (none: no weblog block); ``token`` its basic-auth
    ``user:password``; ``lineage`` adds the 25.04+ ``lineage`` block.
    """
    lines = ["// threadline: record this pipeline's runs (threadline nextflow config)"]
    if url is not None:
        token_line = f"\n    basicToken = {_quote(token)}" if token else ""
        lines.append(f"weblog {{\n    enabled = true\n    url = {_quote(url)}{token_line}\n}}")
    lines.append(
        "trace {\n    enabled = true\n    raw = true\n    overwrite = true\n"
        f"    file = {_quote(trace_file)}\n    fields = {_quote(','.join(EXTENDED_FIELDS))}\n}}"
    )
    if lineage:
        location = f"\n    store.location = {_quote(lineage_dir)}" if lineage_dir else ""
        lines.append(
            "// Nextflow 25.04 and later: the lineage store (task inputs and outputs)\n"
            f"lineage {{\n    enabled = true{location}\n}}"
        )
    return "\n".join(lines) + "\n"
