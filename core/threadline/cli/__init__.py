"""The ``threadline`` command: each subcommand wraps one library call of the same name.

Human-readable output by default, ``--json`` for scripts. A ``ThreadlineError`` prints
``error: <message>`` and exits 1; usage errors exit 2 (click's convention). The commands
live by job: ``admin`` (the instance), ``artifacts``, ``runs``, ``lineage`` (with the
HTML view and the OpenLineage export).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..errors import ThreadlineError
from . import admin, artifacts, cache, lineage, runs
from ._common import EXIT_USER_ERROR, UserError, find_artifact, find_trashed

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

# engines add command groups through this entry point group (threadline's own Nextflow
# plugin does, in pyproject.toml); a group is loaded only when invoked or shown in help,
# so the core never imports a plugin at import time
PLUGIN_GROUP = "threadline.cli"


def plugin_groups() -> dict[str, EntryPoint]:
    """The command groups engines provide: name -> entry point.

    importlib.metadata is imported here, not at the top: it costs about a third of the
    CLI's start (~35 ms) and only help listings and plugin commands need it.
    """
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


class _Group(click.Group):
    """Maps library errors to one line on stderr and exit code 1; adds plugin groups."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *plugin_groups()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            found = plugin_groups().get(cmd_name)
            if found is not None:
                self.add_command(found.load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ThreadlineError as exc:
            message = " ".join(str(exc).split())  # always exactly one line
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=_Group)
@click.version_option(package_name="threadline")
@click.option("--db", help="Database URL (overrides THREADLINE_DB and threadline.toml).")
@click.option("--storage", help="Storage root (overrides THREADLINE_STORAGE and threadline.toml).")
@click.pass_context
def main(ctx: click.Context, db: str | None, storage: str | None) -> None:
    """threadline: record where data and models come from.

    The instance is chosen by --db/--storage, else THREADLINE_DB and THREADLINE_STORAGE,
    else the nearest threadline.toml upward from here, else the default under the user
    data directory. REF arguments take an artifact uid, a key (its latest version) or
    KEY@VERSION. Exit codes: 0 success, 1 error (one line on stderr), 2 usage.
    """
    ctx.obj = {"db": db, "storage": storage}


for _command in (
    admin.init_cmd,
    admin.info_cmd,
    admin.check_cmd,
    admin.gc_cmd,
    artifacts.save_cmd,
    artifacts.load_cmd,
    artifacts.ls_cmd,
    artifacts.describe_cmd,
    artifacts.delete_cmd,
    artifacts.restore_cmd,
    runs.runs_cmd,
    lineage.lineage_cmd,
    lineage.view_cmd,
    lineage.export_group,
    cache.cache_group,
):
    main.add_command(_command)

__all__ = [
    "EXIT_USER_ERROR",
    "PLUGIN_GROUP",
    "UserError",
    "find_artifact",
    "find_trashed",
    "main",
    "plugin_groups",
]
