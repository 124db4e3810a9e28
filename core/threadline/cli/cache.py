"""Step caching: ``cache ls`` lists what can be reused, ``cache clear`` forgets it."""

from typing import Any

import click

from .._output import emit, human_time, table
from ..caching import clear, entries
from ..models import Transform
from ._common import UserError, json_option, open_instance

TRANSFORM_HELP = "Only entries of the transform with this key."


@click.group("cache")
def cache_group() -> None:
    """List or clear the entries that @tl.step(cache=True) reuses."""


def _check_transform(transform_key: str | None) -> None:
    """A ``--transform`` that names no transform is a typo, not an empty cache."""
    if (
        transform_key is not None
        and not Transform.select().where(Transform.key == transform_key).exists()
    ):
        raise UserError(f"no transform with key {transform_key!r}")


def _rows(found: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": e.key,
            "transform": e.transform_key,
            "run": e.run.uid,
            "outputs": len((e.result or {}).get("outputs", [])),
            "reads": len(e.reads),
            "created_at": e.created_at,
        }
        for e in found
    ]


@cache_group.command("ls")
@click.option("--transform", "transform_key", help=TRANSFORM_HELP)
@json_option
@click.pass_context
def ls_cmd(ctx: click.Context, transform_key: str | None, as_json: bool) -> None:
    """List cache entries, newest first.

    Same as tl.caching.entries(transform=...): each entry's key (first 12 characters
    shown), transform key, the run whose outputs it reuses, how many outputs, and when.
    """
    open_instance(ctx)
    _check_transform(transform_key)
    rows = _rows(entries(transform_key))
    cells = [
        [r["key"][:12], r["transform"], r["run"], str(r["outputs"]), human_time(r["created_at"])]
        for r in rows
    ]
    headers = ["KEY", "TRANSFORM", "RUN", "OUTPUTS", "CREATED"]
    emit(rows, as_json, lambda: table(headers, cells) if rows else "no cache entries")


@cache_group.command("clear")
@click.option("--transform", "transform_key", help=TRANSFORM_HELP)
@json_option
@click.pass_context
def clear_cmd(ctx: click.Context, transform_key: str | None, as_json: bool) -> None:
    """Forget cache entries, so that the next cached calls run again.

    Same as tl.caching.clear(transform=...): runs and artifacts stay as they are.
    """
    open_instance(ctx)
    _check_transform(transform_key)
    removed = clear(transform_key)
    noun = "entry" if removed == 1 else "entries"
    emit({"removed": removed}, as_json, lambda: f"removed {removed} cache {noun}")
