"""``threadline nextflow ...``: each command wraps one function of ``threadline.nextflow``.

Loaded by the core CLI only when a ``nextflow`` command runs or help lists it.
"""

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from ._config import DEFAULT_PORT, config_text
from ._ingest import IngestResult, ingest, ingest_traces
from ._run import run_nextflow
from ._server import Receiver


def _connect(ctx: click.Context) -> None:
    root = ctx.find_root().obj or {}
    tl.connect(db=root.get("db"), storage=root.get("storage"))


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:

        def tick(done: int, total: int) -> None:  # drawn every 0.2%, not every task
            if done == total or done - bar.pos >= max(1, total // 500):
                bar.length = total
                bar.update(done - bar.pos)

        yield tick


def _summary(result: IngestResult) -> str:
    state = "recorded" if result.created else "already recorded"
    text = (
        f"{state}: run {result.run_name} ({result.workflow}), {result.tasks} new tasks "
        f"({result.cached} cached), {result.skipped} known, {result.artifacts} outputs"
    )
    if result.missing:
        text += f"; {len(result.missing)} output files not found on disk"
    return text


@click.group("nextflow")
def group() -> None:
    """Record Nextflow runs: ingest a launch dir, receive weblog events, wrap nextflow."""


@group.command("ingest")
@click.argument("launch_dir", type=click.Path(file_okay=False))
@click.option(
    "--trace",
    "trace",
    type=click.Path(),
    help="Trace file, or a folder of them, each its own run (default: the newest "
    "trace*.txt in LAUNCH_DIR).",
)
@click.option(
    "--lineage",
    "lineage",
    type=click.Path(file_okay=False),
    help="Lineage store (default: LAUNCH_DIR/.lineage when present).",
)
@click.option(
    "--run",
    "run_name",
    help="Run name (default: the latest run; for a trace file alone, the file's name and "
    "first submit time).",
)
@click.option(
    "--published",
    "published",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Output dir to scan for published files (runs without a lineage store); repeatable.",
)
@click.option(
    "--work-dir",
    "work_dir",
    type=click.Path(file_okay=False),
    help="Where the task work dirs are (default: LAUNCH_DIR/work).",
)
@click.option(
    "--pipeline",
    help="Pipeline key of runs read from a trace file alone (default: nextflow-pipeline).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ingest_cmd(
    ctx: click.Context,
    launch_dir: str,
    trace: str | None,
    lineage: str | None,
    run_name: str | None,
    published: tuple[str, ...],
    work_dir: str | None,
    pipeline: str | None,
    as_json: bool,
) -> None:
    """Record a Nextflow run from its launch directory, or from trace files alone.

    Same as threadline.nextflow.ingest(): reads .nextflow/history, the trace file, the
    lineage store, .nextflow.log and the task work dirs, and records the workflow run, a
    child run per task and the task outputs. Without history and lineage store (the
    launch folder gone) the trace file alone is read; --trace FOLDER records every trace
    file in it (ingest_traces()). Ingesting a run again records only what is new.
    """
    _connect(ctx)
    if trace is not None and os.path.isdir(trace):
        with _progress("ingesting tasks") as tick:
            results = ingest_traces(
                trace,
                launch_dir,
                run_name,
                published=published,
                work_dir=work_dir,
                pipeline=pipeline,
                progress=tick,
            )
        adapters.emit([r.to_dict() for r in results], as_json, lambda: _summaries(results))
        return
    with _progress("ingesting tasks") as tick:
        result = ingest(
            launch_dir,
            trace=trace,
            lineage=lineage,
            run_name=run_name,
            published=published,
            work_dir=work_dir,
            pipeline=pipeline,
            progress=tick,
        )
    adapters.emit(result.to_dict(), as_json, lambda: _summary(result))


def _summaries(results: list[IngestResult]) -> str:
    return "\n".join(_summary(result) for result in results)


@group.command("config")
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Port of the weblog receiver (threadline nextflow serve).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Host of the weblog receiver.")
@click.option("--token", help="Basic-auth user:password the receiver expects.")
@click.option("--no-weblog", is_flag=True, help="Leave out the weblog block.")
@click.option(
    "--no-lineage", is_flag=True, help="Leave out the lineage block (Nextflow before 25.04)."
)
def config_cmd(port: int, host: str, token: str | None, no_weblog: bool, no_lineage: bool) -> None:
    """Print the Nextflow config threadline needs.

    A weblog block pointing at the receiver, a raw trace with the extended field list,
    and (Nextflow 25.04+) the lineage store. Add it to nextflow.config or pass it with
    -c; threadline nextflow run writes the same file itself.
    """
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port must be a number from 0 to 65535, not {port}")
    url = None if no_weblog else f"http://{host}:{port}/"
    click.echo(config_text(url, token=token, lineage=not no_lineage), nl=False)


@group.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default).",
)
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
)
@click.option(
    "--token",
    envvar="THREADLINE_NEXTFLOW_TOKEN",
    help="Require basic auth user:password, as weblog.basicToken sends "
    "(env THREADLINE_NEXTFLOW_TOKEN).",
)
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Receive Nextflow weblog events and record runs live.

    Point Nextflow at the printed URL (weblog.url, or -with-weblog). Each event is
    checked and answered at once, then recorded in arrival order; replayed and duplicated
    events change nothing; a body that could not be recorded gets a 400 with the reason
    and a log line, and nothing of it is written. Stop with Ctrl-C or SIGTERM.
    """
    _connect(ctx)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with _stop_on_signals() as stop:  # also while the last events are being applied
        receiver = Receiver(host, port, token=token).start()
        try:
            click.echo(f"listening on {receiver.url}", err=True)
            receiver.wait(stop)
        finally:
            receiver.stop()
            click.echo(
                f"received {receiver.received} events, rejected {receiver.rejected}, "
                f"failed {receiver.failed}",
                err=True,
            )


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGINT (Ctrl-C) and SIGTERM set, instead of raising in whatever the
    main thread was doing; the previous handlers come back on the way out."""
    stop = threading.Event()
    wanted: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        wanted = ()  # only the main thread may set handlers (and receives the signals)
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in wanted}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@group.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--lineage/--no-lineage",
    default=None,
    help="Turn on Nextflow's lineage store (default: on for Nextflow 25.04+).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def run_cmd(ctx: click.Context, args: tuple[str, ...], lineage: bool | None, as_json: bool) -> None:
    """Run nextflow and record the run: threadline nextflow run -- run main.nf ...

    Starts a weblog receiver on a free loopback port, adds a -c config (weblog, raw trace,
    lineage on 25.04+), runs nextflow in this directory, then ingests it. Exits with
    nextflow's exit code.
    """
    _connect(ctx)
    result = run_nextflow(args, lineage=lineage)
    ingested = result.ingest
    if ingested is not None:
        adapters.emit(
            {"returncode": result.returncode, "events": result.events, **ingested.to_dict()},
            as_json,
            lambda: _summary(ingested),
        )
    ctx.exit(result.returncode)
