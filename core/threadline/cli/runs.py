"""Runs: ``runs`` lists them, newest first."""

from typing import Any

import click

from .._listing import list_runs, run_rows
from .._output import STATUS_STYLES, emit, human_duration, human_time, table
from ..models.run import RUN_STATUSES
from ._common import json_option, open_instance


@click.command("runs")
@click.option("--engine", help="Only runs recorded by this engine (prefect, snakemake, ...).")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this status.")
@click.option("--parent", "parent_uid", help="Only the child runs of the run with this uid.")
@click.option("--transform", "transform_key", help="Only runs of the transform with this key.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows.")
@json_option
@click.pass_context
def runs_cmd(
    ctx: click.Context,
    engine: str | None,
    status: str | None,
    parent_uid: str | None,
    transform_key: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List runs, newest first.

    A table of uid, status, engine, transform key, name, start time (UTC) and duration.
    The same as tl.Run.filter(engine=..., status=..., parent__uid=..., transform__key=...).
    """
    open_instance(ctx)
    runs = list_runs(
        engine=engine, status=status, parent=parent_uid, transform=transform_key, limit=limit
    )
    rows = run_rows(runs)
    emit(rows, as_json, lambda: _runs_text(rows))


def _runs_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no runs)"
    cells = [
        [
            r["uid"],
            r["status"],
            r["engine"] or "-",
            r["transform"],
            r["name"] or "-",
            human_time(r["started_at"]),
            human_duration(r["started_at"], r["finished_at"]),
        ]
        for r in rows
    ]
    headers = ["UID", "STATUS", "ENGINE", "TRANSFORM", "NAME", "STARTED (UTC)", "DURATION"]
    return table(headers, cells, STATUS_STYLES)
