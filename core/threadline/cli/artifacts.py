"""Artifacts: ``save``, ``load``, ``ls``, ``describe``, ``delete`` and ``restore``."""

import os
import shutil
import sys

import click

from .. import hashing
from .._context import instance
from .._describe import describe_run
from .._listing import artifact_dict, list_artifacts, run_rows
from .._output import emit, human_size, human_time, table
from ..lineage import downstream, upstream
from ..models import Artifact, Run
from ._common import (
    UserError,
    find_artifact,
    find_record,
    find_trashed,
    json_option,
    open_instance,
    progress,
)

PROGRESS_BYTES = 64 << 20  # show a hashing progress bar for saves bigger than this


def _hash_with_progress(path: str) -> None:
    """On a terminal, hash a big file or a folder first with a progress bar; the stat
    cache then hands the hashes to save(), which does not read the files again."""
    if not sys.stderr.isatty() or "://" in path or not os.path.exists(path):
        return
    try:
        if os.path.isdir(path):
            total = sum(os.path.getsize(os.path.join(path, f)) for f in hashing.list_files(path))
        else:
            total = os.path.getsize(path)
    except OSError:  # a dangling link, a file gone: save() says so in one line
        return
    if total < PROGRESS_BYTES:
        return
    with progress(total, "hashing") as tick:
        hashing.hash_path(path, instance().stat_cache, tick)


@click.command("save")
@click.argument("path")
@click.option("--key", help="Virtual path, e.g. raw/sample.fasta (default: none).")
@click.option("--description", help="Free text stored with the artifact.")
@json_option
@click.pass_context
def save_cmd(
    ctx: click.Context, path: str, key: str | None, description: str | None, as_json: bool
) -> None:
    """Save a file or folder as an artifact.

    Same as tl.Artifact(PATH, key=KEY).save(): saving the same content under the same key
    returns the existing artifact; new content under a key becomes its next version.
    PATH may also be an object already under the storage root (registered in place).
    """
    open_instance(ctx)
    _hash_with_progress(path)
    artifact = Artifact(path, key=key, description=description).save()
    emit(
        artifact_dict(artifact),
        as_json,
        lambda: (
            f"saved {artifact.key or '(no key)'} v{artifact.version} "
            f"sha256:{artifact.hash[:12]} ({artifact.uid})"
        ),
    )


@click.command("load")
@click.argument("ref")
@click.option("--to", "dest", help="Copy the content to this path (into it, if it is a folder).")
@json_option
@click.pass_context
def load_cmd(ctx: click.Context, ref: str, dest: str | None, as_json: bool) -> None:
    """Print a local path to an artifact's content.

    Same as artifact.cache(): local storage gives the stored (read-only) object itself,
    S3 storage a copy in the cache folder. With --to, a writable copy at that path.
    """
    open_instance(ctx)
    artifact = find_artifact(ref)
    local = artifact.cache()
    if dest:
        local = _copy_out(artifact, local, dest)
    emit({"uid": artifact.uid, "path": local}, as_json, lambda: local)


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


@click.command("ls")
@click.argument("prefix", default="")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest.")
@click.option("--trash", is_flag=True, help="List artifacts in the trash instead.")
@json_option
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

    A table of key, version, size, hash prefix, creation time (UTC) and uid, sorted by
    key and version, key-less artifacts last. Latest versions only unless
    --all-versions; artifacts in the trash only with --trash.
    """
    open_instance(ctx)
    found = list_artifacts(prefix, limit=limit, all_versions=all_versions, trash=trash)
    emit([artifact_dict(a) for a in found], as_json, lambda: _ls_text(found))


def _ls_text(found: list[Artifact]) -> str:
    if not found:
        return "(no artifacts)"
    rows = [
        [
            a.key or "(no key)",
            f"v{a.version}",
            human_size(a.size),
            a.hash[:12],
            human_time(a.created_at),
            a.uid,
        ]
        for a in found
    ]
    return table(["KEY", "VERSION", "SIZE", "HASH", "CREATED (UTC)", "UID"], rows)


@click.command("describe")
@click.argument("ref")
@json_option
@click.pass_context
def describe_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show an artifact's (or a run's) identity, storage, provenance, features and labels.

    Same as artifact.describe(); --json adds feature values, label names and the uids of
    the creating run's inputs. REF may also be a run uid: its transform, status, times,
    parent, params, cache note, inputs and outputs.
    """
    open_instance(ctx)
    record = find_record(ref)
    if isinstance(record, Run):
        _describe_run(record, as_json)
        return
    data = {
        **artifact_dict(record),
        "features": record.features.get_values(),
        "labels": [label.name for label in record.labels.all()],
        # the creating run's inputs: one run back upstream
        "inputs": [a.uid for a in upstream(record, depth=1).artifacts],
    }
    emit(data, as_json, lambda: str(record.describe(as_text=True)))


def _describe_run(run: Run, as_json: bool) -> None:
    inputs = upstream(run, depth=1).artifacts
    made = run.cached_from if run.cached_from_id is not None else run  # cached: reused ones
    outputs = downstream(made, depth=1).artifacts
    (row,) = run_rows([run])
    data = {
        **row,
        "params": run.params,
        "cache_note": run.cache_note,
        "cached_from": run.cached_from.uid if run.cached_from_id is not None else None,
        "inputs": [a.uid for a in inputs],
        "outputs": [a.uid for a in outputs],
    }
    emit(data, as_json, lambda: describe_run(run, inputs, outputs))


@click.command("delete")
@click.argument("ref")
@click.option(
    "--permanent",
    is_flag=True,
    help="Purge now, as gc purges the trash: a tombstone where a run used it.",
)
@click.option(
    "--forget",
    is_flag=True,
    help="Remove the record too (implies --permanent); refused while others' lineage needs it.",
)
@json_option
@click.pass_context
def delete_cmd(ctx: click.Context, ref: str, permanent: bool, forget: bool, as_json: bool) -> None:
    """Move an artifact to the trash, or purge it now.

    Same as artifact.delete(): a trashed artifact is hidden from ls and lookups and can be
    restored until gc purges it. --permanent purges it at once, as gc does: where a run
    used it (read or wrote it) its object is freed and its record stays as a tombstone,
    shown as purged in describe and lineage; one no run used goes entirely. An object
    another record shares stays. --forget removes the record in any case, refused while
    the lineage of other records needs it (threadline gc --forget KEY@VERSION forgets a
    tombstone anyway).
    """
    open_instance(ctx)
    artifact = find_artifact(ref)
    action = artifact.delete(permanent=permanent, forget=forget)
    emit(
        {"uid": artifact.uid, "permanent": permanent or forget, "action": action},
        as_json,
        lambda: f"{artifact.key or artifact.uid} v{artifact.version} {DELETED[action]}",
    )


DELETED = {
    "trash": "moved to trash",
    "tombstone": "purged: object freed, record kept as a tombstone (runs used it)",
    "erase": "deleted permanently: object and record removed (no run used it)",
    "forget": "forgotten: record removed",
    "purged": "is already purged (a tombstone): --forget removes its record",
}


@click.command("restore")
@click.argument("ref")
@json_option
@click.pass_context
def restore_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Bring an artifact back from the trash.

    Same as artifact.restore(). A bare key restores its newest trashed version.
    """
    open_instance(ctx)
    artifact = find_trashed(ref)
    artifact.restore()
    emit(
        {"uid": artifact.uid, "visibility": artifact.visibility},
        as_json,
        lambda: f"{artifact.key or artifact.uid} v{artifact.version} restored",
    )
