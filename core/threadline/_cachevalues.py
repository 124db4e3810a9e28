"""Values as step caching sees them: the canonical form of parameters (for the key) and
the stored form of results (for reuse).

``canonical`` gives JSON for a parameter, secrets masked as threadline stores them,
and collects the inputs it finds (saved artifacts, ``os.PathLike`` paths, strings naming
an existing file) for the key to hash by content; a value with no canonical form raises
``Uncacheable`` with a one-line note. ``encode``/``decode`` store what a step returned:
JSON values, tuples, dicts with string keys, artifacts (by id) and paths (with the hash
of what they point to, checked again before reuse).
"""

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import json
import os
import pathlib
import uuid
from decimal import Decimal
from typing import Any

from . import _context
from ._redact import MASK, is_secret_name, redact_text
from .hashing import hash_path
from .models import Artifact

_masked = functools.lru_cache(maxsize=8192)(redact_text)  # the same paths come back often


def digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Uncacheable(Exception):
    """A value with no canonical form (the message is the one-line note)."""


def canonical(value: Any, name: str, label: str, inputs: list[tuple[str, Any]]) -> Any:
    if name and is_secret_name(name) and value not in (None, "", False):
        return MASK
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if os.path.isfile(value):
            inputs.append((label, value))
        return _masked(value)
    if isinstance(value, Artifact):
        if value.id is None:
            raise Uncacheable(f"parameter {label!r} is an unsaved artifact")
        inputs.append((label, value))
        return {"artifact": label}
    if isinstance(value, os.PathLike):
        inputs.append((label, os.fspath(value)))
        return {"path": _masked(os.fspath(value))}
    return _container(value, label, inputs)


def _container(value: Any, label: str, inputs: list[tuple[str, Any]]) -> Any:
    if isinstance(value, list | tuple):
        return [canonical(v, "", f"{label}[{i}]", inputs) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [canonical(v, "", f"{label}[]", inputs) for v in value]
        return {"set": sorted(items, key=digest)}
    if isinstance(value, dict):
        if not all(isinstance(k, str | int) for k in value):
            raise Uncacheable(f"parameter {label!r} has keys that are not strings")
        return {str(k): canonical(v, str(k), f"{label}.{k}", inputs) for k, v in value.items()}
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dt.date | dt.time):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, type):  # a class (``cls``): its code is part of the key already
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, Decimal | uuid.UUID):
        return {type(value).__name__: str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__qualname__: _container(fields, label, inputs)}
    raise Uncacheable(
        f"parameter {label!r} of type {type(value).__name__} has no canonical form to hash"
    )


def encode(value: Any, paths: dict[str, str]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Artifact) and value.id is not None:
        return {"__tl__": "artifact", "id": value.id}
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if os.path.exists(path):
            paths[path] = hash_path(path, _context.instance().stat_cache).hash
        return {"__tl__": type(value).__name__, "path": path}
    if isinstance(value, list | tuple):
        items = [encode(v, paths) for v in value]
        return items if isinstance(value, list) else {"__tl__": "tuple", "items": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__tl__": "dict", "items": {k: encode(v, paths) for k, v in value.items()}}
    raise Uncacheable(
        f"not cached: a return value of type {type(value).__name__} cannot be stored "
        "(return artifacts, paths or JSON values)"
    )


def decode(value: Any, artifacts: dict[int, Artifact]) -> Any:
    if isinstance(value, list):
        return [decode(v, artifacts) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value["__tl__"]
    if kind == "artifact":
        return artifacts[value["id"]]
    if kind == "tuple":
        return tuple(decode(v, artifacts) for v in value["items"])
    if kind == "dict":
        return {k: decode(v, artifacts) for k, v in value["items"].items()}
    cls = getattr(pathlib, kind, pathlib.Path)
    return cls(value["path"])


def artifact_ids(value: Any) -> list[int]:
    if isinstance(value, list):
        return [i for v in value for i in artifact_ids(v)]
    if not isinstance(value, dict):
        return []
    if value.get("__tl__") == "artifact":
        return [value["id"]]
    items = value.get("items", [])
    return artifact_ids(list(items.values()) if isinstance(items, dict) else items)
