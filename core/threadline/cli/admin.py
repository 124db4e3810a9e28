"""The instance: ``init``, ``info``, ``check`` and ``gc``."""

import sys

import click

from .. import _liveness
from .._context import instance
from .._instance import init
from .._output import emit
from ..maintenance import GcPlan, check, count_artifacts, gc, gc_plan, orphans
from ..models import Run
from ._common import EXIT_USER_ERROR, UserError, json_option, open_instance, progress

DEFAULT_STORAGE = ".threadline/storage"


@click.command("init")
@click.option(
    "--storage",
    "storage_root",
    help=f"A local folder or s3://bucket/prefix (default: {DEFAULT_STORAGE} here).",
)
@click.option(
    "--db", "db_url", help="postgresql://user@host:port/db (default: SQLite in .threadline/ here)."
)
@json_option
@click.pass_context
def init_cmd(
    ctx: click.Context, storage_root: str | None, db_url: str | None, as_json: bool
) -> None:
    """Create an instance and write threadline.toml here.

    Without options, everything lives in .threadline/ in this folder (a SQLite database
    and the storage). Opens the database and the storage first (tl.init), so nothing is
    written when either is unusable. Commands run in this folder or below then use it.
    """
    options = ctx.find_root().obj or {}
    storage_root = storage_root or options.get("storage") or DEFAULT_STORAGE
    created = init(storage_root, db=db_url or options.get("db"))
    info = created.describe()
    emit(info, as_json, lambda: f"initialized: storage {info['storage']}, db {info['db']}")


@click.command("info")
@json_option
@click.pass_context
def info_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the active instance and how many artifacts and runs it holds."""
    open_instance(ctx)
    data = {
        **instance().describe(),
        "artifacts": count_artifacts(),
        "runs": Run.select().count(),
    }
    emit(data, as_json, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


@click.command("check")
@click.option("--fix", is_flag=True, help="Mark runs whose process is gone as aborted.")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, fix: bool, as_json: bool) -> None:
    """Verify that every artifact's object exists and matches its hash.

    Same as tl.maintenance.check(): lists each missing or changed object and exits 1 if
    there is any. Objects no record points to (orphans, e.g. left by an interrupted save)
    are listed too; they are not failures (threadline gc removes them). Runs of this host
    still started whose process is gone (killed, crashed) are failures: --fix marks them
    aborted.
    """
    open_instance(ctx)
    total = count_artifacts()
    with progress(total, "checking") as tick:
        problems = check(progress=tick)
    found = orphans()
    dead = _liveness.dead_run_rows(fix)
    emit(
        [*(p.to_dict() for p in problems), *(o.to_dict() for o in found), *dead],
        as_json,
        lambda: "\n".join(
            [
                *(f"{p.issue}: {p.key or p.uid} ({p.path})" for p in problems),
                *(f"orphan object: {o.uri}" for o in found),
                *(f"{d['issue']}: {d['uid']} ({d['transform']}, pid {d['pid']})" for d in dead),
                *([] if problems else ["ok: all objects intact"]),
            ]
        ),
    )
    if problems:
        click.echo(f"error: {len(problems)} of {total} artifacts failed the check", err=True)
    if dead and not fix:
        click.echo(f"error: {len(dead)} runs whose process is gone (--fix aborts them)", err=True)
    if problems or (dead and not fix):
        ctx.exit(EXIT_USER_ERROR)


@click.command("gc")
@click.argument("refs", metavar="[KEY]...", nargs=-1)
@click.option("--keep-trash", is_flag=True, help="Do not purge the trash.")
@click.option(
    "--min-age",
    type=float,
    default=3600.0,
    show_default=True,
    help="Keep unreferenced objects younger than this many seconds.",
)
@click.option(
    "--forget",
    is_flag=True,
    help="Also remove the records of purged artifacts (tombstones): the KEYs named "
    "(uid, KEY or KEY@VERSION), else all, refused while other records' lineage needs one.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before purging.")
@click.option("--dry-run", is_flag=True, help="Only list what would be purged.")
@json_option
@click.pass_context
def gc_cmd(
    ctx: click.Context,
    refs: tuple[str, ...],
    keep_trash: bool,
    min_age: float,
    forget: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Purge the trash and remove objects no record points to.

    Same as tl.maintenance.gc(). A trashed artifact that a run used (read or wrote) is
    purged: its object is freed and its record stays as a tombstone, shown as purged in
    describe and lineage, so the lineage of what was derived from it survives. One no run
    used goes entirely. Leftovers of interrupted saves and of permanently deleted
    artifacts go; objects younger than --min-age are kept, as a save may be in progress.
    Only --forget removes tombstones.

    gc lists what it will do and asks on a terminal; --yes does not ask. When stdin is not
    a terminal, gc needs --yes: without it, it prints the list and exits 1, purging
    nothing. --dry-run only lists.
    """
    if refs and not forget:
        raise click.UsageError("KEY arguments name the tombstones to --forget: add --forget")
    open_instance(ctx)
    todo = gc_plan(keep_trash, min_age, list(refs) if refs else forget)
    listing = todo.lines() or ["nothing to purge"]
    if dry_run:
        emit(todo.to_dict(), as_json, lambda: "\n".join(listing))
        return
    if todo and not yes:
        if not sys.stdin.isatty():
            emit(todo.to_dict(), as_json, lambda: "\n".join(listing))
            raise UserError(
                "nothing purged: stdin is not a terminal, so gc does not ask; "
                "pass --yes to purge what is listed (--dry-run only lists)"
            )
        click.echo("\n".join(listing), err=as_json)  # stdout stays one JSON document
        click.confirm(f"{_summary(todo)}: go ahead?", abort=True, err=True)
    result = gc(min_age_s=min_age, planned=todo)
    emit(result, as_json, lambda: _done(result))


def _summary(todo: GcPlan) -> str:
    stones = sum(p.tombstone for p in todo.purge)
    return (
        f"purge {len(todo.purge)} trashed artifacts ({stones} kept as tombstones), "
        f"remove {len(todo.orphans)} orphan objects, forget {len(todo.forget)} tombstones"
    )


def _done(result: dict[str, int]) -> str:
    stones, forgot = result["tombstones_kept"], result["records_forgotten"]
    return (
        f"purged {result['trash_purged']} from trash"
        + (f" ({stones} kept as tombstones)" if stones else "")
        + f", removed {result['objects_removed']} objects"
        + (f", forgot {forgot} tombstones" if forgot else "")
    )
