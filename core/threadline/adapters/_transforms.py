"""Transforms: what a run runs, versioned by the hash of its source."""

import hashlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

from .. import _context
from .._db import write_transaction
from .._redact import redact_key, redact_text
from ..errors import InvalidInput
from ..models import Transform

_sources: dict[Any, tuple[str, str]] = {}  # function -> (source, hash)
_found: dict[tuple[str, str], tuple[Any, Transform]] = {}  # (key, hash) -> (instance, it)
_lock = threading.Lock()


def source_hash(source: str | bytes) -> str:
    data = source.encode() if isinstance(source, str) else source
    return hashlib.sha256(data).hexdigest()


def function_source(fn: Callable[..., Any]) -> tuple[str, str]:
    """The source of ``fn`` and its hash, read once per function (its qualified name
    when the source is not available)."""
    found = _sources.get(fn)
    if found is None:
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', fn)}"
        found = (source, source_hash(source))
        with _lock:
            if len(_sources) > 10_000:
                _sources.clear()
            _sources[fn] = found
    return found


def get_transform(
    key: str,
    kind: str,
    *,
    source: str | None = None,
    hash: str | None = None,
    function: Callable[..., Any] | None = None,
    reference: str | None = None,
    description: str | None = None,
) -> Transform:
    """The transform for ``key`` with this source; new source under a key is a new version.

    ``function``: the source is the function's, read once per function, and the transform
    is looked up once per instance (a task called 10,000 times costs one query)."""
    if not key:
        raise InvalidInput("a transform needs a non-empty key")
    key = redact_key(key)
    if function is None:
        digest = hash or source_hash(source if source is not None else key)
        return _find_or_create(key, kind, digest, source, reference, description)
    source, digest = function_source(function)
    instance = _context.instance()
    cached = _found.get((key, digest))
    if cached is not None and cached[0] is instance:
        return cached[1]
    found = _find_or_create(key, kind, digest, source, reference, description)
    with _lock:
        if len(_found) > 10_000:
            _found.clear()
        _found[(key, digest)] = (instance, found)
    return found


def _find_or_create(
    key: str,
    kind: str,
    digest: str,
    source: str | None,
    reference: str | None,
    description: str | None,
) -> Transform:
    found = Transform.get_or_none((Transform.key == key) & (Transform.hash == digest))
    if found is not None:
        return found  # type: ignore[no-any-return]
    with write_transaction(Transform._meta.database, lock=f"transform:{key}"):
        found = Transform.get_or_none((Transform.key == key) & (Transform.hash == digest))
        if found is not None:
            return found  # type: ignore[no-any-return]
        top = (
            Transform.select(Transform.version)
            .where(Transform.key == key)
            .order_by(Transform.version.desc())
            .scalar()
        )
        return Transform.create(  # type: ignore[no-any-return]
            key=key,
            kind=kind,
            hash=digest,
            version=(top or 0) + 1,
            reference=redact_text(reference) if reference else reference,
            source=redact_text(source) if source is not None else None,
            description=redact_text(description) if description else description,
        )
