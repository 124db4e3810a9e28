"""The public API that engine adapters (Prefect, Snakemake, Lightning, MLflow, Nextflow)
drive: the only door into threadline's core for a plugin.

Transforms and runs
    ``get_transform(key, kind, *, source, hash, function, reference, description)``: the
    transform of a source (or of a function, read and looked up once);
    ``start_run`` / ``start_runs``: runs with explicit parents, one or thousands at once;
    ``RunTemplate``: the fields many runs share (transform, parent, engine, host),
    prepared once, so that each run's start adds only its own (a task run per call);
    ``update_run``: set fields of a run that stays open; ``finish_run``: close a run;
    ``abort_children``: close a run's children still open;
    ``descendants``: every run under a run; ``activate``: make a run current;
    ``hold`` / ``release``: keep a run open without making it current (while it is,
    ``threadline.connect`` to another database and ``disconnect`` are refused);
    ``transaction``: many calls in one database transaction;
    ``child_environment``: the variables that make a child process write under a run;
    ``database_url``: the database a ``db``/``storage`` pair names, resolved, not opened;
    ``same_database``: whether two such URLs name one database (another spelling).
Files
    ``register_outputs`` (with ``Output``): many output files of runs in one call;
    ``register_inputs``: files a run reads (a config) saved with no creator, linked;
    ``claim_outputs``: make runs the creators of artifacts stored without one;
    ``outputs_of``: the artifacts runs made; ``link_inputs``: inputs by path, hash or
    artifact; ``hash_files``: content hashes.
Inputs
    ``resolve_inputs`` (with ``Input``): THE rule for which artifact an input is, used by
    every adapter: the artifact the consumer was handed, else the one last registered at
    that key (the path relative to the working directory) still matching the content,
    else any with that content (the oldest producer finished before the consumer
    started); unknown files are source data, registered under their relative path with
    host and absolute path in the description. ``source_key``: that key for a path;
    ``inputs_in``: the saved Artifacts and existing paths among a call's arguments.
References
    ``resolve_reference`` / ``resolve_references``: a uid, ``key`` or ``key@version`` to
    its artifact, read the same way as the CLI reads it; ``split_reference``: a reference
    as (uid or key, version or None), checked.
Features and edges
    ``annotate`` / ``annotate_records``: feature values on one or many records;
    ``check_features``: would they be accepted (writes nothing);
    ``link_runs``: (upstream, downstream) edges between runs.
Engine safety
    ``Guard``: the one "never fail the host engine" wrapper (log once, record, go on);
    ``writer`` (a ``Writer``): this process's background writer thread, which writes
    what a hook need not wait for in short batched transactions, off the engine's thread;
    ``strict``: whether adapters re-raise their own failures (``THREADLINE_STRICT=1``);
    ``redact``: a value with its secrets masked; ``check_key``: a key, checked.
Command lines
    ``emit``: print a command's result as text for people or JSON for scripts, as the
    ``threadline`` command does (an engine plugin's own commands use it too).

Naming: a function that takes many items is named in the plural of what it takes
(``start_runs``, ``link_runs``, ``register_outputs``, ``claim_outputs``, ``link_inputs``,
``annotate_records``, ``resolve_references``, ``hash_files``); its one-item form, where
there is one, is singular (``start_run``, ``annotate``, ``resolve_reference``).

Every string these functions store (keys, references, names, params, features, commands,
sources, errors) is redacted on the way in: secrets never reach the database.
"""

from typing import Any

from .._config import resolve as _resolve
from .._config import same_database
from .._keys import check_key as _check_key
from .._output import emit
from .._redact import redact as _redact_value
from .._redact import redact_text
from .._references import resolve_reference, resolve_references, split_reference
from ._annotate import annotate, annotate_records, check_features, link_runs
from ._family import descendants
from ._files import (
    Output,
    claim_outputs,
    hash_files,
    link_inputs,
    outputs_of,
    register_inputs,
    register_outputs,
)
from ._guard import Guard, strict
from ._inputs import Input, inputs_in, resolve_inputs, source_key
from ._runs import (
    abort_children,
    activate,
    child_environment,
    finish_run,
    hold,
    release,
    start_run,
    start_runs,
    transaction,
    update_run,
)
from ._template import RunTemplate
from ._transforms import get_transform
from ._writer import Writer, writer

__all__ = [
    "Guard",
    "Input",
    "Output",
    "RunTemplate",
    "Writer",
    "abort_children",
    "activate",
    "annotate",
    "annotate_records",
    "check_features",
    "check_key",
    "child_environment",
    "claim_outputs",
    "database_url",
    "descendants",
    "emit",
    "finish_run",
    "get_transform",
    "hash_files",
    "hold",
    "inputs_in",
    "link_inputs",
    "link_runs",
    "outputs_of",
    "redact",
    "register_inputs",
    "register_outputs",
    "release",
    "resolve_inputs",
    "resolve_reference",
    "resolve_references",
    "same_database",
    "source_key",
    "split_reference",
    "start_run",
    "start_runs",
    "strict",
    "transaction",
    "update_run",
    "writer",
]


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid artifact key (a relative virtual path), else raise
    ``InvalidKey`` (an ``InvalidInput``) saying what is wrong: the rule ``tl.Artifact``
    applies, for adapters that take keys from users (storage plugins, key templates)."""
    return _check_key(key)


def database_url(db: str | None = None, storage: str | None = None) -> str:
    """The database URL that ``threadline.connect(db, storage)`` would open, resolved as
    documented (neither given: the environment, the project file, the default), with
    nothing opened: for plugins that must tell whether two settings name one database.
    It holds any password the URL has: pass it through ``redact`` before showing it."""
    return _resolve(db, storage).db


def redact(value: Any) -> Any:
    """``value`` with secrets masked, as threadline stores params, errors and sources."""
    return redact_text(value) if isinstance(value, str) else _redact_value(value)
