"""Find what a flow or task read and produced in its arguments and return value.

Inputs: saved Artifacts and paths (``str`` or ``os.PathLike``) of existing files or
folders. Outputs: Artifacts, existing paths and, with ``save_result``, DataFrames and
AnnData objects. Lists, tuples, sets and dicts are walked (a few levels, a bounded
number of items), so ``return {"table": path, "plot": other}`` works. A ``Path`` counts
when something exists there; a ``str`` only when it also looks like a path (a slash or a
file extension), so that a list of 10,000 sample names costs no file-system look-ups.
Never the working directory or a folder above it (a task given ``"."`` must not hash
the whole project).
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import threadline as tl

MAX_DEPTH = 4
MAX_ITEMS = 10_000
SCALARS = frozenset({int, float, bool, str, bytes, type(None)})  # nothing to walk into
PLAIN = frozenset({int, float, bool, complex, bytes, type(None)})  # never an input or output


@dataclass
class Found:
    artifacts: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    objects: list[Any] = field(default_factory=list)  # DataFrames, AnnData


def walk(value: Any, depth: int = 0) -> Iterator[Any]:
    """``value`` and, for containers, the values inside them."""
    if isinstance(value, list | tuple | set | frozenset | dict):
        if depth >= MAX_DEPTH:
            return
        items = value.values() if isinstance(value, dict) else value
        for count, item in enumerate(items):
            if count >= MAX_ITEMS:
                return
            yield from walk(item, depth + 1)
    else:
        yield value


def as_path(value: Any, workdir: str) -> str | None:
    """``value`` as the path of an existing file or folder, or None."""
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
    elif (
        isinstance(value, str)
        and 0 < len(value) < 1024
        and "\n" not in value
        and ("/" in value or os.sep in value or os.path.splitext(value)[1])
    ):
        text = value
    else:
        return None
    if not isinstance(text, str) or "\0" in text or "://" in text or not os.path.exists(text):
        return None
    full = os.path.abspath(text)
    if full == workdir or workdir.startswith(full.rstrip(os.sep) + os.sep):
        return None
    return text


def table_type(value: Any) -> str | None:
    """``DataFrame`` (pandas) or ``AnnData``, as threadline's core saves them, else None."""
    kind = type(value)
    for name, module in (("DataFrame", "pandas"), ("AnnData", "anndata")):
        if kind.__name__ == name and kind.__module__.startswith(module):
            return name
    return None


def find(value: Any, workdir: str, *, objects: bool = False) -> Found:
    """The artifacts, paths and (if asked) in-memory tables in ``value``."""
    found = Found()
    if type(value) in PLAIN:  # a number: nothing in it (every task run's return value)
        return found
    for item in walk(value):
        if isinstance(item, tl.Artifact):
            found.artifacts.append(item)
        elif objects and table_type(item) is not None:
            found.objects.append(item)
        else:
            path = as_path(item, workdir)
            if path is not None and path not in found.paths:
                found.paths.append(path)
    return found


def relative_key(path: str, workdir: str) -> str | None:
    """``path`` relative to ``workdir`` as a key, or None for a path outside it."""
    full = os.path.abspath(path)
    if not full.startswith(workdir.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(full, workdir).replace(os.sep, "/")
