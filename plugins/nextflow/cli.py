"""``threadline nextflow ...``: each command wraps one function of ``threadline.nextflow``.

Loaded by the core CLI only when a ``nextflow`` command runs or help lists it.
"""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

import threadline as tl

from ._config import DEFAULT_PORT, config_text
from ._ingest import IngestResult, ingest


def _connect(ctx: click.Context) -> None:
    root = ctx.find_root().obj or {}
    tl.connect(db=root.get("db"), storage=root.get("storage"))


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal (for runs of 100+ tasks), nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=0, label=label, file=sys.stderr) as bar:
        done = [0]

        def tick(number: int) -> None:
            bar.update(number - done[0])
            done[0] = number

        yield tick


def _summary(result: IngestResult) -> str:
    state = "recorded" if result.created else "already recorded"
    text = (f"{state}: run {result.run_name} ({result.workflow}), {result.tasks} new tasks "
            f"({result.cached} cached), {result.skipped} known, {result.artifacts} outputs")
    if result.missing:
        text += f"; {len(result.missing)} output files not found on disk"
    return text


@click.group("nextflow")
def group() -> None:
    """Record Nextflow runs: ingest a launch dir, receive weblog events, wrap nextflow."""


@group.command("ingest")
@click.argument("launch_dir", type=click.Path(file_okay=False))
@click.option("--trace", "trace", type=click.Path(dir_okay=False),
              help="Trace file (default: the newest trace*.txt in LAUNCH_DIR).")
@click.option("--lineage", "lineage", type=click.Path(file_okay=False),
              help="Lineage store (default: LAUNCH_DIR/.lineage when present).")
@click.option("--run", "run_name", help="Run name (default: the latest run).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ingest_cmd(ctx: click.Context, launch_dir: str, trace: str | None, lineage: str | None,
               run_name: str | None, as_json: bool) -> None:
    """Record a Nextflow run from its launch directory.

    Same as threadline.nextflow.ingest(): reads .nextflow/history, the trace file, the
    lineage store, .nextflow.log and the task work dirs, and records the workflow run, a
    child run per task and the task outputs. Ingesting a run again records only what is
    new.
    """
    _connect(ctx)
    with _progress("ingesting tasks") as tick:
        result = ingest(launch_dir, trace=trace, lineage=lineage, run_name=run_name,
                        progress=tick)
    _emit(result.to_dict(), as_json, lambda: _summary(result))


@group.command("config")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="Port of the weblog receiver (threadline nextflow serve).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Host of the weblog receiver.")
@click.option("--token", help="Basic-auth user:password the receiver expects.")
@click.option("--no-weblog", is_flag=True, help="Leave out the weblog block.")
@click.option("--no-lineage", is_flag=True,
              help="Leave out the lineage block (Nextflow before 25.04).")
def config_cmd(port: int, host: str, token: str | None, no_weblog: bool,
               no_lineage: bool) -> None:
    """Print the Nextflow config threadline needs.

    A weblog block pointing at the receiver, a raw trace with the extended field list,
    and (Nextflow 25.04+) the lineage store. Add it to nextflow.config or pass it with
    -c; threadline nextflow run writes the same file itself.
    """
    url = None if no_weblog else f"http://{host}:{port}/"
    click.echo(config_text(url, token=token, lineage=not no_lineage), nl=False)


def _emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else human())
