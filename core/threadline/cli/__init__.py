"""The ``threadline`` command: each subcommand wraps one library call of the same name.

Human-readable output by default, ``--json`` for scripts. A ``ThreadlineError`` prints
``error: <message>`` and exits 1; usage errors exit 2 (click's convention).
"""

import importlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from threadline import errors, export, hashing, lineage, maintenance
from threadline._context import instance
from threadline._instance import connect, init
from threadline.models import Artifact, Run, Transform
from threadline.models.run import RUN_STATUSES

EXIT_USER_ERROR = 1
PROGRESS_BYTES = 64 << 20  # show a hashing progress bar for saves bigger than this

# engine command groups, loaded by dotted path only when invoked or listed in help, so that
# the core never imports a plugin at import time
PLUGIN_GROUPS = {"nextflow": "threadline.nextflow.cli:group"}


class UserError(click.ClickException):
    """A failure at the CLI's own edge (copying ``--to``): ``error: ...``, exit 1."""

    exit_code = EXIT_USER_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    """Maps library errors to one line on stderr and exit code 1; adds plugin groups."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *PLUGIN_GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in PLUGIN_GROUPS and cmd_name not in self.commands:
            module, _, attribute = PLUGIN_GROUPS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ThreadlineError as exc:
            message = " ".join(str(exc).split())  # always exactly one line
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_USER_ERROR)


def _emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else human())


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty() or total < 2:
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def find_artifact(ref: str, version: int | None = None) -> Artifact:
    """An artifact by uid, ``key``, or ``key@version`` (latest when no version is given).

    The latest is the newest visible version; when every version is in the trash or the
    archive, the newest of those.
    """
    if version is None and "@" in ref:
        head, _, text = ref.rpartition("@")
        if not text.isdigit():
            raise errors.InvalidInput(
                f"cannot read {ref!r}: use KEY@VERSION with a version number, e.g. {head}@1"
            )
        ref, version = head, int(text)
    anywhere = ("main", "archive", "trash")
    by_uid = Artifact.filter(uid=ref, visibility__in=anywhere).first()
    if by_uid is not None:
        return by_uid  # type: ignore[no-any-return]
    if version is not None:
        found = Artifact.filter(key=ref, version=version, visibility__in=anywhere).first()
        if found is None:
            raise errors.NotFound(f"no version {version} of key {ref!r}")
        return found  # type: ignore[no-any-return]
    latest = Artifact.filter(key=ref).order_by("-version").first()
    if latest is None:  # only trashed or archived versions: the newest of those
        latest = Artifact.filter(key=ref, visibility__in=anywhere).order_by("-version").first()
    if latest is None:
        raise errors.NotFound(f"no artifact with uid or key {ref!r}")
    return latest  # type: ignore[no-any-return]


def find_trashed(ref: str) -> Artifact:
    """What ``restore REF`` brings back: a uid or ``key@version`` as given, a bare key's
    newest version in the trash."""
    if (
        "@" not in ref
        and Artifact.filter(uid=ref, visibility__in=("main", "archive", "trash")).first() is None
    ):
        trashed = Artifact.filter(key=ref, visibility="trash").order_by("-version").first()
        if trashed is not None:
            return trashed  # type: ignore[no-any-return]
        if Artifact.filter(key=ref, visibility__in=("main", "archive")).exists():
            raise errors.NotFound(f"no version of key {ref!r} is in the trash")
    return find_artifact(ref)


def _find_record(ref: str) -> Artifact | Run:
    run = Run.get_or_none(Run.uid == ref)
    return run if run is not None else find_artifact(ref)


def _find_run(uid: str) -> Run:
    run = Run.get_or_none(Run.uid == uid)
    if run is None:
        raise errors.NotFound(f"no run with uid {uid!r}")
    return run  # type: ignore[no-any-return]


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


def _open(ctx: click.Context) -> None:
    connect(db=ctx.obj["db"], storage=ctx.obj["storage"])


@main.command("init")
@click.option("--storage", "storage_root", help="A local folder or s3://bucket/prefix.")
@click.option(
    "--db", "db_url", help="postgresql://user@host:port/db (default: SQLite in .threadline/ here)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def init_cmd(
    ctx: click.Context, storage_root: str | None, db_url: str | None, as_json: bool
) -> None:
    """Create an instance and write threadline.toml here.

    Opens the database and the storage first (tl.init), so nothing is written when
    either is unusable. Commands run in this folder or below then use this instance.
    """
    storage_root = storage_root or ctx.obj["storage"]
    if not storage_root:
        raise click.UsageError("Missing option '--storage'.", ctx)
    instance = init(storage_root, db=db_url or ctx.obj["db"])
    info = instance.describe()
    _emit(info, as_json, lambda: f"initialized: storage {info['storage']}, db {info['db']}")


@main.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def info_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the active instance and how many artifacts and runs it holds."""
    _open(ctx)
    data = {
        **instance().describe(),
        "artifacts": maintenance.count_artifacts(),
        "runs": Run.select().count(),
    }
    _emit(data, as_json, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


def _hash_with_progress(path: str) -> None:
    """On a terminal, hash a big file or a folder first with a progress bar; the stat
    cache then hands the hashes to save(), which does not read the files again."""
    if not sys.stderr.isatty() or "://" in path or not os.path.exists(path):
        return
    if os.path.isdir(path):
        total = sum(os.path.getsize(os.path.join(path, f)) for f in hashing.list_files(path))
    else:
        total = os.path.getsize(path)
    if total < PROGRESS_BYTES:
        return
    with _progress(total, "hashing") as tick:
        hashing.hash_path(path, instance().stat_cache, tick)


@main.command("save")
@click.argument("path")
@click.option("--key", help="Virtual path, e.g. raw/sample.fasta (default: none).")
@click.option("--description", help="Free text stored with the artifact.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def save_cmd(
    ctx: click.Context, path: str, key: str | None, description: str | None, as_json: bool
) -> None:
    """Save a file or folder as an artifact.

    Same as tl.Artifact(PATH, key=KEY).save(): saving the same content under the same key
    returns the existing artifact; new content under a key becomes its next version.
    PATH may also be an object already under the storage root (registered in place).
    """
    _open(ctx)
    _hash_with_progress(path)
    artifact = Artifact(path, key=key, description=description).save()
    _emit(
        artifact.to_dict(),
        as_json,
        lambda: (
            f"saved {artifact.key or '(no key)'} v{artifact.version} "
            f"sha256:{artifact.hash[:12]} ({artifact.uid})"
        ),
    )


@main.command("load")
@click.argument("ref")
@click.option("--to", "dest", help="Copy the content to this path (into it, if it is a folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def load_cmd(ctx: click.Context, ref: str, dest: str | None, as_json: bool) -> None:
    """Print a local path to an artifact's content.

    Same as artifact.cache(): local storage gives the stored (read-only) object itself,
    S3 storage a copy in the cache folder. With --to, a writable copy at that path.
    """
    _open(ctx)
    artifact = find_artifact(ref)
    local = artifact.cache()
    if dest:
        local = _copy_out(artifact, local, dest)
    _emit({"uid": artifact.uid, "path": local}, as_json, lambda: local)


def _copy_out(artifact: Artifact, local: str, dest: str) -> str:
    """Copy stored content to ``dest`` (into it, when it is an existing folder and the
    artifact is a file); the copies are ordinary writable files."""
    try:
        if artifact.n_files is not None:
            shutil.copytree(local, dest, dirs_exist_ok=True, copy_function=shutil.copyfile)
            return dest
        if os.path.isdir(dest):
            name = (artifact.key or artifact.uid + artifact.suffix).rsplit("/", 1)[-1]
            dest = os.path.join(dest, name)
        shutil.copyfile(local, dest)
    except OSError as exc:
        raise UserError(
            f"cannot copy {artifact.key or artifact.uid} to {dest}: {exc.strerror or exc}"
        ) from exc
    return dest


@main.command("ls")
@click.argument("prefix", default="")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest.")
@click.option("--trash", is_flag=True, help="List artifacts in the trash instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ls_cmd(
    ctx: click.Context,
    prefix: str,
    limit: int | None,
    all_versions: bool,
    trash: bool,
    as_json: bool,
) -> None:
    """List artifacts whose key starts with PREFIX.

    One line per artifact: key, version, size in bytes, hash prefix, uid. Latest versions
    only unless --all-versions; artifacts in the trash only with --trash.
    """
    _open(ctx)
    query = Artifact.filter(key__startswith=prefix) if prefix else Artifact.filter()
    if trash:
        query = query.filter(visibility="trash")
    elif not all_versions:
        query = query.filter(is_latest=True)
    rows = [a.to_dict() for a in _listing(query, limit, keyless=not prefix)]
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{r['key'] or '(no key)'}\tv{r['version']}\t{r['size']}\t{r['hash'][:12]}\t{r['uid']}"
                for r in rows
            )
            or "(no artifacts)"
        ),
    )


def _listing(query: Any, limit: int | None, keyless: bool) -> list[Artifact]:
    """Keyed artifacts by key and version, then (if asked) key-less ones, oldest first:
    the same order on SQLite and PostgreSQL, which sort NULL keys differently."""

    def take(q: Any, n: int | None) -> list[Artifact]:
        return list(q.limit(n) if n is not None else q)

    found = take(query.filter(key__isnull=False).order_by("key", "version"), limit)
    if keyless and (limit is None or len(found) < limit):
        rest = None if limit is None else limit - len(found)
        found += take(query.filter(key__isnull=True).order_by("created_at"), rest)
    return found


@main.command("runs")
@click.option("--engine", help="Only runs recorded by this engine (prefect, snakemake, ...).")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this status.")
@click.option("--parent", "parent_uid", help="Only the child runs of the run with this uid.")
@click.option("--transform", "transform_key", help="Only runs of the transform with this key.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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

    One line per run: uid, status, engine, transform key, name, start time. The same as
    tl.Run.filter(engine=..., status=..., parent__uid=..., transform__key=...).
    """
    _open(ctx)
    if parent_uid is not None:
        _find_run(parent_uid)  # an unknown uid is an error, not an empty list
    lookups = {
        "engine": engine,
        "status": status,
        "parent__uid": parent_uid,
        "transform__key": transform_key,
    }
    query = Run.filter(**{k: v for k, v in lookups.items() if v is not None})
    query = query.order_by("-started_at")
    rows = _run_rows(list(query.limit(limit) if limit is not None else query))
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{r['uid']}\t{r['status']}\t{r['engine'] or '-'}\t{r['transform']}\t"
                f"{r['name'] or '-'}\t{r['started_at']:%Y-%m-%d %H:%M:%S}"
                for r in rows
            )
            or "(no runs)"
        ),
    )


def _run_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """Runs as plain rows, with transform keys and parent uids read in one query each."""
    keys = (
        {
            t.id: t.key
            for t in Transform.select(Transform.id, Transform.key).where(
                Transform.id.in_({r.transform_id for r in runs})
            )
        }
        if runs
        else {}
    )
    parent_ids = {r.parent_id for r in runs if r.parent_id is not None}
    parents = (
        {r.id: r.uid for r in Run.select(Run.id, Run.uid).where(Run.id.in_(parent_ids))}
        if parent_ids
        else {}
    )
    return [
        {
            "uid": r.uid,
            "status": r.status,
            "engine": r.engine,
            "transform": keys[r.transform_id],
            "name": r.name,
            "reference": r.reference,
            "parent": parents.get(r.parent_id),
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "error": r.error,
        }
        for r in runs
    ]


@main.command("describe")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def describe_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show an artifact's identity, storage, provenance, features and labels.

    Same as artifact.describe(); --json adds feature values, label names and the uids of
    the creating run's inputs.
    """
    _open(ctx)
    artifact = find_artifact(ref)
    data = {
        **artifact.to_dict(),
        "features": artifact.features.get_values(),
        "labels": [label.name for label in artifact.labels.all()],
        "inputs": [a.uid for a in artifact.run.inputs] if artifact.run_id else [],
    }
    _emit(data, as_json, lambda: str(artifact.describe(as_text=True)))


@main.command("lineage")
@click.argument("ref")
@click.option("--downstream", is_flag=True, help="Walk downstream instead of upstream.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lineage_cmd(ctx: click.Context, ref: str, downstream: bool, as_json: bool) -> None:
    """List everything upstream (or downstream) of an artifact or run.

    REF may also be a run uid. Upstream: the creating run, its inputs, their creating
    runs, and so on (tl.lineage.upstream); downstream: runs that read it and what they
    made (tl.lineage.downstream).
    """
    _open(ctx)
    record = _find_record(ref)
    direction = "downstream" if downstream else "upstream"
    if as_json:
        walk = lineage.downstream(record) if downstream else lineage.upstream(record)
        _emit(walk.to_dict(), True, str)
        return
    text = lineage.render(record, direction)
    click.echo(text if "\n" in text else f"{text}\n  (nothing {direction})")


@main.group("export")
def export_group() -> None:
    """Export records in other formats."""


@export_group.command("openlineage")
@click.option(
    "--since",
    type=click.DateTime(),
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
@click.pass_context
def openlineage_cmd(
    ctx: click.Context, since: Any, run_uids: tuple[str, ...], output: str | None
) -> None:
    """Print OpenLineage run events, one JSON object per line.

    Same as threadline.export.openlineage_events(): a START event per run and, for runs
    that ended, a COMPLETE, FAIL or ABORT event with the artifacts read and written as
    datasets. Send them to any OpenLineage consumer (Marquez: POST each line to
    /api/v1/lineage).
    """
    _open(ctx)
    runs = [_find_run(uid) for uid in run_uids] if run_uids else None
    lines = "".join(
        json.dumps(event, sort_keys=True) + "\n"
        for event in export.openlineage_events(runs, since=since)
    )
    if output is None:
        click.echo(lines, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(lines)


@main.command("delete")
@click.argument("ref")
@click.option("--permanent", is_flag=True, help="Remove the record and its unshared object.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def delete_cmd(ctx: click.Context, ref: str, permanent: bool, as_json: bool) -> None:
    """Move an artifact to the trash, or delete it for good.

    Same as artifact.delete(): a trashed artifact is hidden from ls and lookups and can be
    restored; --permanent removes the record and its object unless another record shares it.
    """
    _open(ctx)
    artifact = find_artifact(ref)
    artifact.delete(permanent=permanent)
    where = "deleted permanently" if permanent else "moved to trash"
    _emit(
        {"uid": artifact.uid, "permanent": permanent},
        as_json,
        lambda: f"{artifact.key or artifact.uid} v{artifact.version} {where}",
    )


@main.command("restore")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def restore_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Bring an artifact back from the trash.

    Same as artifact.restore(). A bare key restores its newest trashed version.
    """
    _open(ctx)
    artifact = find_trashed(ref)
    artifact.restore()
    _emit(
        {"uid": artifact.uid, "visibility": artifact.visibility},
        as_json,
        lambda: f"{artifact.key or artifact.uid} v{artifact.version} restored",
    )


@main.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check_cmd(ctx: click.Context, as_json: bool) -> None:
    """Verify that every artifact's object exists and matches its hash.

    Same as tl.maintenance.check(): lists each missing or changed object and exits 1 if
    there is any.
    """
    _open(ctx)
    total = maintenance.count_artifacts()
    with _progress(total, "checking") as tick:
        problems = maintenance.check(progress=tick)
    _emit(
        [p.to_dict() for p in problems],
        as_json,
        lambda: (
            "\n".join(f"{p.issue}: {p.key or p.uid} ({p.path})" for p in problems)
            or "ok: all objects intact"
        ),
    )
    if problems:
        click.echo(f"error: {len(problems)} of {total} artifacts failed the check", err=True)
        ctx.exit(EXIT_USER_ERROR)


@main.command("gc")
@click.option("--keep-trash", is_flag=True, help="Do not purge the trash.")
@click.option(
    "--min-age",
    type=float,
    default=3600.0,
    show_default=True,
    help="Keep unreferenced objects younger than this many seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def gc_cmd(ctx: click.Context, keep_trash: bool, min_age: float, as_json: bool) -> None:
    """Empty the trash and remove objects no record points to.

    Same as tl.maintenance.gc(): leftovers of interrupted saves and of permanently deleted
    artifacts go; objects younger than --min-age are kept, as a save may be in progress.
    """
    _open(ctx)
    result = maintenance.gc(keep_trash=keep_trash, min_age_s=min_age)
    _emit(
        result,
        as_json,
        lambda: (
            f"purged {result['trash_purged']} from trash, "
            f"removed {result['objects_removed']} objects"
        ),
    )
