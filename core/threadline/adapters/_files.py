"""Files: outputs registered and claimed, inputs linked by content, files hashed."""

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee

from .. import _context
from .._db import write_transaction
from .._redact import mask, redact_key, redact_text
from ..caching import note_reads
from ..errors import InvalidInput, NotFound
from ..hashing import hash_paths
from ..models import Artifact, Feature, Run, RunInput, check_values
from ..models.run import runs_below
from ..saving import save_artifacts
from ._inputs import resolve_inputs

CHUNK = 500  # rows per statement, under every database's limit on parameters


@dataclass(frozen=True)
class Output:
    """One output file or folder: where it is, its key, features for it alone, and the run
    that made it when that is not the ``register_outputs`` call's own run (the outputs
    of many jobs registered in one call)."""

    path: str
    key: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run: Run | None = None


def register_outputs(
    run: Run | None,
    outputs: Iterable[Output | str | os.PathLike[str]],
    *,
    features: dict[str, Any] | None = None,
    kind: str | None = None,
    create_features: bool = True,
) -> list[Artifact]:
    """Save many outputs of ``run`` at once; returns their artifacts in input order.

    ``features`` annotate every output, ``Output.features`` one output (and win). Every
    feature value is checked before anything is stored or written. Keys, descriptions and
    feature values are stored with secrets masked.
    """
    items = [o if isinstance(o, Output) else Output(os.fspath(o)) for o in outputs]
    known: dict[str, Feature] = {}
    checked = [
        check_values(mask({**(features or {}), **item.features}), create_features, known)
        for item in items
    ]
    artifacts = [
        Artifact(
            o.path,
            key=redact_key(o.key) if o.key is not None else None,
            description=redact_text(o.description) if o.description else o.description,
            kind=kind,
            run=o.run if o.run is not None else run,
        )
        for o in items
    ]
    save_artifacts(artifacts, values=checked)  # records and annotations: one transaction
    return artifacts


def register_inputs(
    run: Run | None,
    inputs: Iterable[Output | str | os.PathLike[str]],
    *,
    kind: str | None = None,
) -> list[Artifact]:
    """Save files a run reads (a configuration) as artifacts that no run created, under
    their keys, and link them as inputs of ``run``: all in one transaction, so a failure
    leaves neither a stray artifact nor an output of the run. Returns them in order."""
    items = [o if isinstance(o, Output) else Output(os.fspath(o)) for o in inputs]
    artifacts = [
        Artifact(
            o.path,
            key=redact_key(o.key) if o.key is not None else None,
            description=redact_text(o.description) if o.description else o.description,
            kind=kind,
        )
        for o in items
    ]
    if run is not None:  # a queued row (``start_run(..., later=True)``): written first,
        run.id  # noqa: B018  # not inside the transaction below
    with write_transaction(Artifact._meta.database), _context.no_run():
        save_artifacts(artifacts)
        if run is not None:
            link_inputs(run, artifacts=artifacts)
    note_reads((o.path, a.hash) for o, a in zip(items, artifacts, strict=True))
    return artifacts


def claim_outputs(claims: Iterable[tuple[Artifact, Run]]) -> int:
    """Make each run the creator of its artifact, where the artifact has none yet (stored
    by a storage plugin that knew no job): one UPDATE per 500 artifacts. An artifact that
    already has a creator keeps it. Returns how many were claimed."""
    pairs = [(artifact.id, run.id) for artifact, run in claims]
    if any(a is None or r is None for a, r in pairs):
        raise InvalidInput("claim_outputs takes saved artifacts and runs")
    claimed = 0
    for start in range(0, len(pairs), CHUNK):  # 3 parameters a claim: within SQLite's limit
        chunk = pairs[start : start + CHUNK]
        creator = peewee.Case(Artifact.id, chunk)
        claimed += (
            Artifact.update(run=creator)
            .where(Artifact.id.in_([a for a, _ in chunk]) & Artifact.run.is_null())
            .execute()
        )
    for artifact, run in claims if isinstance(claims, list) else ():
        if artifact.run_id is None:
            artifact.run = run
    return claimed


def outputs_of(
    runs: Iterable[Run], *, limit: int | None = None, below: bool = False
) -> list[Artifact]:
    """The artifacts the ``runs`` made, oldest first, each with its run loaded in the same
    query (``artifact.run`` costs nothing); at most ``limit`` of them. ``below``: also
    those of every run under them (as ``descendants``, in the same query)."""
    ids = [run.id for run in runs]
    found: dict[int, Artifact] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        made = Artifact.run.in_(chunk)
        if below:  # and every run under them: one recursive subquery
            made |= Artifact.run.in_(runs_below(chunk))
        query = Artifact.select(Artifact, Run).join(Run).where(made).order_by(Artifact.id)
        if limit is not None:
            query = query.limit(limit - len(found))
        found.update((artifact.id, artifact) for artifact in query)
        if limit is not None and len(found) >= limit:
            break
    return sorted(found.values(), key=lambda a: a.id)


def hash_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The content hash of each local file or folder, in order, as threadline stores it
    (files unchanged since they were last hashed are not read again)."""
    local = [os.fspath(p) for p in paths]
    return [h.hash for h in hash_paths(local, _context.instance().stat_cache)]


def link_inputs(
    run: Run,
    *,
    paths: Iterable[str | os.PathLike[str]] = (),
    hashes: Iterable[str] = (),
    artifacts: Iterable[Artifact] = (),
    register_unknown: bool = True,
) -> list[Artifact]:
    """Record inputs of ``run``: artifacts as given, hashes by content, paths by the one
    input rule of ``resolve_inputs`` (at their key first, then by content; unknown ones
    registered as source data)."""
    linked = list(artifacts)
    if any(a.id is None for a in linked):
        raise InvalidInput("link_inputs takes saved artifacts; save them first")
    digests = list(hashes)
    by_hash = _find_many(sorted(set(digests)))
    unknown = [d for d in digests if d not in by_hash]
    if unknown:
        raise NotFound(f"no artifact has hash {unknown[0]}")
    linked.extend(by_hash[d] for d in digests)
    path_list = [os.fspath(p) for p in paths]  # a missing path refuses all: checked first
    found = resolve_inputs(run, path_list, register_unknown=register_unknown)
    rows = [{"run": run.id, "artifact": a.id} for a in linked if a.run_id != run.id]
    if rows:
        RunInput.insert_many(rows).on_conflict_ignore().execute()
    return linked + list({a.id: a for a in found if a is not None}.values())


def _find_many(digests: list[str]) -> dict[str, Artifact]:
    """The most recent visible artifact of each content hash, a query per 500."""
    found: dict[str, Artifact] = {}
    for start in range(0, len(digests), CHUNK):
        query = (
            Artifact.select()
            .where(
                Artifact.hash.in_(digests[start : start + CHUNK])
                & Artifact.visibility.not_in(("trash", "purged"))
            )
            .order_by(Artifact.is_latest.desc(), Artifact.id.desc())
        )
        for artifact in query:
            found.setdefault(artifact.hash, artifact)
    return found
