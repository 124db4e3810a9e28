"""What every command shares: the instance options, errors at the CLI's edge, progress bars
and the lookups of the records that REF arguments name."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from .._instance import connect
from .._references import resolve_reference
from ..errors import NotFound
from ..models import Artifact, Run

EXIT_USER_ERROR = 1
JSON_HELP = "Print JSON."


class UserError(click.ClickException):
    """A failure at the CLI's own edge (copying ``--to``): ``error: ...``, exit 1."""

    exit_code = EXIT_USER_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--json`` flag every command has."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(function)


def open_instance(ctx: click.Context) -> None:
    """Connect to the instance that ``--db``/``--storage`` (or the usual places) name; a
    database that holds no instance is an error (only ``init`` creates one)."""
    root = ctx.find_root()
    options = root.obj or {}
    connect(db=options.get("db"), storage=options.get("storage"), create=False)


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty() or total < 2:
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def find_artifact(ref: str) -> Artifact:
    """An artifact by uid, ``key`` or ``key@version``, trashed and archived ones too (a
    person at the CLI may name them); a bare key is its newest visible version."""
    return resolve_reference(ref, hidden=True)


def find_trashed(ref: str) -> Artifact:
    """What ``restore REF`` brings back: a bare key's newest version in the trash."""
    return resolve_reference(ref, trashed=True)


def find_run(uid: str) -> Run:
    run = Run.get_or_none(Run.uid == uid)
    if run is None:
        raise NotFound(f"no run with uid {uid!r}")
    return run  # type: ignore[no-any-return]


def find_record(ref: str) -> Artifact | Run:
    """A run by uid, else an artifact by uid, key or ``key@version``."""
    run = Run.get_or_none(Run.uid == ref)
    return run if run is not None else find_artifact(ref)
