"""The ``threadline`` command: each subcommand wraps one library call of the same name.

Human-readable output by default, ``--json`` for scripts. A ``ThreadlineError`` prints
``error: <message>`` and exits 1; usage errors exit 2 (click's convention).
"""

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from .. import errors, lineage, maintenance
from .._context import instance
from .._instance import connect, init
from ..models import Artifact, Run

EXIT_USER_ERROR = 1


class _Group(click.Group):
    """Maps library errors to one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ThreadlineError as exc:
            click.echo(f"error: {exc}", err=True)
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
    """An artifact by uid, ``key``, or ``key@version`` (latest when no version is given)."""
    if version is None and "@" in ref:
        ref, _, text = ref.rpartition("@")
        if not text.isdigit():
            raise errors.InvalidInput(f"version after '@' must be a number, got {text!r}")
        version = int(text)
    anywhere = ("main", "archive", "trash")
    by_uid = Artifact.filter(uid=ref, visibility__in=anywhere).first()
    if by_uid is not None:
        return by_uid  # type: ignore[no-any-return]
    if version is not None:
        return Artifact.filter(key=ref, version=version,  # type: ignore[no-any-return]
                               visibility__in=anywhere).get()
    latest = Artifact.filter(key=ref).order_by("-version").first()
    if latest is None:  # only trashed or archived versions: the newest of those
        latest = Artifact.filter(key=ref, visibility__in=anywhere).order_by("-version").first()
    if latest is None:
        raise errors.NotFound(f"no artifact with uid or key {ref!r}")
    return latest  # type: ignore[no-any-return]


def _find_record(ref: str) -> Artifact | Run:
    run = Run.get_or_none(Run.uid == ref)
    return run if run is not None else find_artifact(ref)


@click.group(cls=_Group)
@click.version_option(package_name="threadline")
@click.option("--db", help="Database URL (overrides THREADLINE_DB and threadline.toml).")
@click.option("--storage", help="Storage root (overrides THREADLINE_STORAGE and threadline.toml).")
@click.pass_context
def main(ctx: click.Context, db: str | None, storage: str | None) -> None:
    """threadline: record where data and models come from."""
    ctx.obj = {"db": db, "storage": storage}


def _open(ctx: click.Context) -> None:
    connect(db=ctx.obj["db"], storage=ctx.obj["storage"])


@main.command("init")
@click.option("--storage", "storage_root", required=True,
              help="A local folder or s3://bucket/prefix.")
@click.option("--db", "db_url", help="postgresql://... (default: SQLite beside threadline.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def init_cmd(storage_root: str, db_url: str | None, as_json: bool) -> None:
    """Create an instance here: writes threadline.toml (tl.init)."""
    instance = init(storage_root, db=db_url)
    info = instance.describe()
    _emit(info, as_json, lambda: f"initialized: storage {info['storage']}, db {info['db']}")


@main.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def info_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the active instance and what it holds."""
    _open(ctx)
    data = {**instance().describe(), "artifacts": maintenance.count_artifacts(),
            "runs": Run.select().count()}
    _emit(data, as_json, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


@main.command("save")
@click.argument("path")
@click.option("--key", help="Virtual path, e.g. raw/sample.fasta.")
@click.option("--description", help="Free text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def save_cmd(ctx: click.Context, path: str, key: str | None, description: str | None,
             as_json: bool) -> None:
    """Save a file or folder as an artifact (Artifact(path, key=...).save())."""
    _open(ctx)
    artifact = Artifact(path, key=key, description=description).save()
    _emit(artifact.to_dict(), as_json,
          lambda: f"saved {artifact.key or artifact.uid} v{artifact.version} "
                  f"sha256:{artifact.hash[:12]} ({artifact.uid})")


@main.command("load")
@click.argument("ref")
@click.option("--to", "dest", help="Copy the content to this path.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def load_cmd(ctx: click.Context, ref: str, dest: str | None, as_json: bool) -> None:
    """Fetch an artifact (uid, key or key@version): print a local path (artifact.cache())."""
    _open(ctx)
    artifact = find_artifact(ref)
    local = artifact.cache()
    if dest:
        if artifact.n_files is not None:
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(local, dest)
        local = dest
    _emit({"uid": artifact.uid, "path": local}, as_json, lambda: local)


@main.command("ls")
@click.argument("prefix", default="")
@click.option("--limit", type=int, default=None, help="At most this many rows.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest.")
@click.option("--trash", is_flag=True, help="List the trash instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ls_cmd(ctx: click.Context, prefix: str, limit: int | None, all_versions: bool,
           trash: bool, as_json: bool) -> None:
    """List artifacts whose key starts with PREFIX (Artifact.filter(key__startswith=...))."""
    _open(ctx)
    query = Artifact.filter(key__startswith=prefix) if prefix else Artifact.filter()
    if trash:
        query = query.filter(visibility="trash")
    elif not all_versions:
        query = query.filter(is_latest=True)
    rows = [a.to_dict() for a in query.order_by("key", "version").limit(limit or 10**9)]
    _emit(rows, as_json, lambda: "\n".join(
        f"{r['key'] or '(no key)'}\tv{r['version']}\t{r['size']}\t{r['hash'][:12]}\t{r['uid']}"
        for r in rows) or "(no artifacts)")


@main.command("describe")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def describe_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show an artifact's identity, storage, provenance, features and labels."""
    _open(ctx)
    artifact = find_artifact(ref)
    data = {**artifact.to_dict(), "features": artifact.features.get_values(),
            "labels": [label.name for label in artifact.labels.all()],
            "inputs": [a.uid for a in artifact.run.inputs] if artifact.run_id else []}
    _emit(data, as_json, lambda: str(artifact.describe(as_text=True)))


@main.command("lineage")
@click.argument("ref")
@click.option("--downstream", is_flag=True, help="Walk downstream instead of upstream.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lineage_cmd(ctx: click.Context, ref: str, downstream: bool, as_json: bool) -> None:
    """Everything upstream (or downstream) of an artifact or run (tl.lineage)."""
    _open(ctx)
    record = _find_record(ref)
    direction = "downstream" if downstream else "upstream"
    walk = lineage.downstream(record) if downstream else lineage.upstream(record)
    _emit(walk.to_dict(), as_json, lambda: lineage.render(record, direction))


@main.command("delete")
@click.argument("ref")
@click.option("--permanent", is_flag=True, help="Remove the record and its unshared object.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def delete_cmd(ctx: click.Context, ref: str, permanent: bool, as_json: bool) -> None:
    """Move an artifact to the trash (artifact.delete())."""
    _open(ctx)
    artifact = find_artifact(ref)
    artifact.delete(permanent=permanent)
    where = "deleted permanently" if permanent else "moved to trash"
    _emit({"uid": artifact.uid, "permanent": permanent}, as_json,
          lambda: f"{artifact.key or artifact.uid} v{artifact.version} {where}")


@main.command("restore")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def restore_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Bring an artifact back from the trash (artifact.restore())."""
    _open(ctx)
    artifact = find_artifact(ref)
    artifact.restore()
    _emit({"uid": artifact.uid, "visibility": artifact.visibility}, as_json,
          lambda: f"{artifact.key or artifact.uid} v{artifact.version} restored")


@main.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check_cmd(ctx: click.Context, as_json: bool) -> None:
    """Verify every artifact's object exists and matches its hash; exit 1 on problems."""
    _open(ctx)
    with _progress(maintenance.count_artifacts(), "checking") as tick:
        problems = maintenance.check(progress=tick)
    _emit([p.to_dict() for p in problems], as_json, lambda: "\n".join(
        f"{p.issue}: {p.key or p.uid} ({p.path})" for p in problems) or "ok: all objects intact")
    if problems:
        ctx.exit(EXIT_USER_ERROR)


@main.command("gc")
@click.option("--keep-trash", is_flag=True, help="Do not purge the trash.")
@click.option("--min-age", type=float, default=3600.0, show_default=True,
              help="Keep unreferenced objects younger than this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def gc_cmd(ctx: click.Context, keep_trash: bool, min_age: float, as_json: bool) -> None:
    """Empty the trash and remove objects no record points to (maintenance.gc)."""
    _open(ctx)
    result = maintenance.gc(keep_trash=keep_trash, min_age_s=min_age)
    _emit(result, as_json, lambda: f"purged {result['trash_purged']} from trash, "
                                   f"removed {result['objects_removed']} objects")
