"""Lineage: ``lineage`` lists or draws it, ``view`` writes the HTML view, ``export``
writes OpenLineage events."""

import datetime as dt
import json
from pathlib import Path

import click

from .._output import emit
from ..export import openlineage_events, post_events
from ..lineage import dot, html, html_page, mermaid, render, walk
from ._common import UserError, find_record, find_run, open_instance

FORMATS = ("text", "json", "mermaid", "dot", "html")
# the --since formats, ISO 8601 as the help shows them (click's defaults lack the minutes form)
SINCE_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
]


def _direction_options(function: click.decorators.FC) -> click.decorators.FC:
    """``--upstream`` (default), ``--downstream`` or ``--both``, and ``--depth N``."""
    for option in reversed(
        [
            click.option(
                "--upstream",
                "direction",
                flag_value="upstream",
                default=True,
                help="What REF derives from (the default).",
            ),
            click.option(
                "--downstream",
                "direction",
                flag_value="downstream",
                help="What derives from REF.",
            ),
            click.option("--both", "direction", flag_value="both", help="Both directions."),
            click.option(
                "--depth",
                type=click.IntRange(min=1),
                default=None,
                help="At most this many runs away from REF (default: all).",
            ),
        ]
    ):
        function = option(function)
    return function


@click.command("lineage")
@click.argument("ref")
@_direction_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Output: a listing, JSON (records and edges), Mermaid, Graphviz dot or HTML.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
@click.pass_context
def lineage_cmd(
    ctx: click.Context, ref: str, direction: str, depth: int | None, fmt: str, as_json: bool
) -> None:
    """List or draw everything upstream (or downstream) of an artifact or run.

    REF may also be a run uid. Upstream: the creating run, its inputs, their creating
    runs, and so on (tl.lineage.upstream); downstream: runs that read it and what they
    made (tl.lineage.downstream). --json lists the records and the edges between them
    (``from`` and ``to`` uids: an input read, an output written).
    """
    open_instance(ctx)
    record = find_record(ref)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        emit(walk(record, direction, depth).to_dict(), True, str)
    elif fmt == "mermaid":
        click.echo(mermaid(record, direction, depth))
    elif fmt == "dot":
        click.echo(dot(record, direction, depth))
    elif fmt == "html":
        click.echo(html_page(record, direction, depth), nl=False)
    else:
        text = render(record, direction, depth)
        nothing = "upstream or downstream" if direction == "both" else direction
        click.echo(text if "\n" in text else f"{text}\n  (nothing {nothing})")


@click.command("view")
@click.argument("ref")
@_direction_options
@click.option(
    "--output",
    "-o",
    default="lineage.html",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="The HTML file to write.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def view_cmd(
    ctx: click.Context, ref: str, direction: str, depth: int | None, output: str, as_json: bool
) -> None:
    """Write the lineage of an artifact or run as one self-contained HTML file.

    Same as tl.lineage.html(record, path). Open it in any browser, also offline: the
    page fetches nothing. Artifacts are boxes, runs rounded and coloured by status,
    parent runs groups (big ones folded, with counts); click a record for its details,
    search by key, uid or feature value.
    """
    open_instance(ctx)
    record = find_record(ref)
    try:
        written = html(record, output, direction, depth)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    data = {"path": str(written), "bytes": written.stat().st_size, "start": record.uid}
    emit(data, as_json, lambda: f"wrote {written} ({data['bytes']} bytes)")


@click.group("export")
def export_group() -> None:
    """Export records in other formats."""


@export_group.command("openlineage")
@click.option(
    "--since",
    type=click.DateTime(SINCE_FORMATS),
    default=None,
    help="Only runs started at or after this time (UTC), e.g. 2026-11-30T09:00.",
)
@click.option("--run", "run_uids", multiple=True, help="Only this run (uid); repeatable.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--url",
    help="Post the events to this OpenLineage HTTP endpoint (e.g. Marquez's) instead.",
)
@click.pass_context
def openlineage_cmd(
    ctx: click.Context,
    since: dt.datetime | None,
    run_uids: tuple[str, ...],
    output: str | None,
    url: str | None,
) -> None:
    """Print OpenLineage run events, one JSON object per line.

    Same as threadline.export.openlineage_events(): a START event per run that started
    and, for runs that ended, a COMPLETE, FAIL or ABORT event with the artifacts read and
    written as datasets, in time order. With --url, the events are posted to that
    endpoint (/api/v1/lineage), as Marquez, DataHub and OpenMetadata accept them.
    """
    open_instance(ctx)
    runs = [find_run(uid) for uid in run_uids] if run_uids else None
    events = openlineage_events(runs, since=since)
    if url is not None:
        sent = post_events(events, url)
        click.echo(f"posted {sent} events to {url}")
        return
    lines = "".join(json.dumps(event, sort_keys=True) + "\n" for event in events)
    if output is None:
        click.echo(lines, nl=False)
        return
    try:
        Path(output).write_text(lines, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
