"""The identity of a function's code, as step caching sees it.

A function's code is its own source plus what it reaches through global names and
closures: functions and classes of the user's project (their source, followed
recursively), local modules (the whole file), installed packages (``name==version``, the
standard library by Python version), constants (their value) and other global values
(the source of the module the function lives in: runtime state never enters the key). A module is
*local* unless its file lies under the interpreter's install paths (site-packages, the
standard library); threadline itself counts as installed. What the code reaches in other
ways (``getattr`` by a computed name, a file it opens, the network) is not seen.
"""

import contextlib
import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable
from typing import Any

_SIMPLE = (type(None), bool, int, float, str, bytes)
_CONSTANT = (*_SIMPLE, tuple, frozenset)


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@functools.cache
def _install_roots() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(getattr(site, "getsitepackages", list)())
    user = getattr(site, "getusersitepackages", lambda: None)()
    if isinstance(user, str):
        paths.add(user)
    return tuple(os.path.realpath(p) + os.sep for p in paths if p)


def is_local(module: types.ModuleType) -> bool:
    """Whether ``module`` is part of the user's project (not installed, not threadline)."""
    name = module.__name__.partition(".")[0]
    path = getattr(module, "__file__", None)
    if name == "__main__":
        return True  # the script, or a notebook's cells (no file)
    if path is None or name == "threadline":
        return False
    real = os.path.realpath(path)
    return not real.startswith(_install_roots())


@functools.cache
def _distributions() -> dict[str, list[str]]:
    from importlib import metadata  # ~18 ms to import: only where a cached step needs it

    return dict(metadata.packages_distributions())


@functools.cache
def package_identity(top: str) -> str:
    """``dist==version`` for an installed top-level package, the Python version for the
    standard library and built-in modules."""
    from importlib import metadata  # ~18 ms to import: only where a cached step needs it

    python = f"python=={sys.version_info.major}.{sys.version_info.minor}:{top}"
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return python
    try:  # most distributions are named as their package: no scan of every installed one
        return f"{top}=={metadata.version(top)}"
    except metadata.PackageNotFoundError:
        pass
    dists = _distributions().get(top)
    if not dists:
        return python
    try:
        return f"{dists[0]}=={metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return f"{dists[0]}==?"


@functools.cache
def _file_hash(path: str, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return _sha(handle.read())


def module_identity(module: types.ModuleType) -> str:
    if not is_local(module):
        return package_identity(module.__name__.partition(".")[0])
    path = module.__file__ or ""
    try:
        return f"{module.__name__}:{_file_hash(path, os.stat(path).st_mtime_ns)}"
    except OSError:
        return f"{module.__name__}:?"


def _source(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
        consts = [c for c in code.co_consts if not isinstance(c, types.CodeType)]
        return f"{code.co_code.hex()}|{consts!r}|{code.co_names!r}"


def _names(code: types.CodeType) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


def _target(value: Any) -> Any:
    """The user's function behind a wrapper (``functools.wraps``, a Prefect task's ``fn``)."""
    value = inspect.unwrap(value) if callable(value) else value
    inner = getattr(value, "fn", None)
    if not inspect.isfunction(value) and inspect.isfunction(inner):
        return inspect.unwrap(inner)
    return value


def _describe(name: str, value: Any, home: str, seen: set[int], out: list[str]) -> None:
    """One thing a function reaches by ``name``; ``home`` is the function's module."""
    value = _target(value)
    if isinstance(value, types.ModuleType):
        out.append(f"{name}=module:{module_identity(value)}")
    elif inspect.isfunction(value) or inspect.isclass(value):
        module = sys.modules.get(value.__module__ or "")
        if module is not None and not is_local(module):
            out.append(f"{name}={package_identity(module.__name__.partition('.')[0])}")
        elif inspect.isfunction(value):
            _walk(value, seen, out)
        elif id(value) not in seen:
            seen.add(id(value))
            out.append(f"{name}=class:{_sha(_source(value))}")
    elif isinstance(value, _CONSTANT) and (text := _plain(value)) is not None:
        out.append(f"{name}={_sha(text)}")  # a constant: by value
    else:  # state (a config dict, a list, an object): by the source of the module it lives in
        module = sys.modules.get(home)
        out.append(f"{name}=in:{module_identity(module) if module is not None else home}")


def _plain(value: Any, budget: int = 10_000) -> str | None:
    """A deterministic text of a constant or of nested tuples and frozensets of constants
    (at most ``budget`` items); None for anything else."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if budget <= 0 or not isinstance(value, tuple | frozenset):
        return None
    parts = [_plain(v, budget - len(value)) for v in value]
    if any(p is None for p in parts):
        return None
    texts = [p for p in parts if p is not None]
    if isinstance(value, frozenset):
        texts.sort()
    return f"{type(value).__name__}({','.join(texts)})"


def _walk(fn: types.FunctionType, seen: set[int], out: list[str]) -> None:
    if id(fn) in seen:
        return
    seen.add(id(fn))
    out.append(f"{fn.__module__}.{fn.__qualname__}:{_sha(_source(fn))}")
    names = _names(fn.__code__)
    for name in sorted(names):
        if name in fn.__globals__:
            _describe(name, fn.__globals__[name], fn.__module__, seen, out)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        _describe(name, contents, fn.__module__, seen, out)


def code_parts(fn: Callable[..., Any]) -> list[str]:
    """What the identity of ``fn``'s code is made of, one line per thing reached."""
    target = _target(fn)
    out: list[str] = []
    if inspect.isfunction(target):
        _walk(target, set(), out)
    else:
        out.append(_sha(_source(target)))
    return out


_known: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def code_hash(fn: Callable[..., Any]) -> str:
    """SHA-256 over ``code_parts(fn)``: changes when the function, a local helper or
    module it reaches, a constant it reads or the version of a package it uses changes.

    Computed once per function object: what runs in this process is the code as it was
    when it was imported (a re-imported module makes new function objects)."""
    try:
        return _known[fn]
    except (KeyError, TypeError):
        pass
    digest = _sha("\n".join(code_parts(fn)))
    with contextlib.suppress(TypeError):  # not weakly referenceable: not remembered
        _known[fn] = digest
    return digest
