"""A run's fields on the way in: stamped with the recording process, strings redacted,
a parent and a project found by what the caller gave."""

import functools
from typing import Any

from .._process import process_fields
from .._redact import redact_key, redact_text
from ..errors import NotFound
from ..models import Project, Run


def stamped(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with the host, pid and process start of this process where the caller
    gave none: the process that records a run (and will close it) is the one
    ``threadline check`` asks after when the run stays open. A run the caller places on
    another host or process keeps what it was given."""
    here = process_fields()
    if fields.get("hostname") not in (None, here["hostname"]) or fields.get("pid") is not None:
        here = {"hostname": here["hostname"]}  # another process's run: only a missing host
    stamp = {k: v for k, v in here.items() if fields.get(k) is None}
    return {**fields, **stamp} if stamp else fields


IDENTIFIERS = frozenset({"name", "reference"})  # redacted as identifiers, not as prose


def texts(fields: dict[str, Any]) -> dict[str, Any]:
    """Run fields with every string redacted (references, names, errors, commands)."""
    return {k: text(k, v) if isinstance(v, str) else v for k, v in fields.items()}


@functools.lru_cache(maxsize=1024)  # the same host, user, engine... on every run
def text(name: str, value: str) -> str:
    return redact_key(value) if name in IDENTIFIERS else redact_text(value)


def as_run(parent: Run | str | None) -> Run | None:
    """A run given as itself or by its uid (``NotFound`` for an unknown uid)."""
    if parent is None or isinstance(parent, Run):
        return parent
    found = Run.get_or_none(Run.uid == parent)
    if found is None:
        raise NotFound(f"no run with uid {parent!r}")
    return found  # type: ignore[no-any-return]


def project_named(name: str | None) -> Project | None:
    """The project named ``name``, made if new (None for no name)."""
    if not name:
        return None
    Project.insert(name=name).on_conflict_ignore().execute()
    return Project.get(Project.name == name)  # type: ignore[no-any-return]
