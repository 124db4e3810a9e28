"""Tracking Python code: ``track()``/``finish()`` for scripts, ``@flow``/``@step`` for functions.

- ``track()`` makes the running script a Transform (key: its path relative to the git
  root or the working directory; hash: its source) and starts a Run with the environment
  and git state; it picks up ``THREADLINE_PARENT_RUN`` as parent and exports the instance
  and run to child processes. ``finish()`` closes it (and runs at exit if you forget).
- ``@flow()`` and ``@step()`` make each call a Run of the function (params bound from the
  signature with defaults, secrets redacted; Artifact and path arguments recorded as inputs).
  Exceptions mark the run errored with message and traceback and propagate. Sync and
  async functions both work; calls in other threads nest under the run that is open.
"""

import atexit
import contextlib
import datetime as dt
import functools
import getpass
import hashlib
import inspect
import logging
import os
import sys
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import _context, _liveness, caching
from ._config import ENV_DB, ENV_PARENT_RUN, ENV_STORAGE
from ._environment import distributions, environment_hash, git_info, python_version
from ._redact import redact
from .adapters import (
    activate,
    finish_run,
    get_transform,
    inputs_in,
    resolve_inputs,
    start_run,
    strict,
)
from .errors import InvalidInput, TrackingError
from .models import Environment, Run, Transform

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("threadline.caching")

_global: dict[str, Any] = {"run": None, "token": None, "git": None, "env": None}


class _Context:
    """``tl.context``: the current run and transform, or None."""

    @property
    def run(self) -> Run | None:
        return _context.current_run()  # type: ignore[no-any-return]

    @property
    def transform(self) -> Transform | None:
        run = self.run
        return run.transform if run is not None else None


context = _Context()


def _script_path() -> Path | None:
    """The running script, or the notebook (Jupyter sets ``JPY_SESSION_NAME`` to its path)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or os.environ.get("JPY_SESSION_NAME")
    return Path(path).resolve() if path else None


def _script_key(path: Path | None) -> tuple[str, str | None, Any]:
    if path is None:
        return "interactive", None, None
    git = git_info(path.parent)
    base = Path(git.root) if git else Path.cwd()
    try:
        key = path.relative_to(base).as_posix()
    except ValueError:
        key = path.name
    try:
        source = path.read_text(errors="replace")
    except OSError:
        source = None
    return key, source, git


def _environment() -> Environment:
    packages = distributions()
    digest = environment_hash(packages)
    found = Environment.get_or_none(Environment.hash == digest)
    if found is None:
        Environment.insert(
            hash=digest, python=python_version(), packages=list(packages)
        ).on_conflict_ignore().execute()
        found = Environment.get(Environment.hash == digest)
    return found  # type: ignore[no-any-return]


def track(
    params: dict[str, Any] | None = None,
    project: str | None = None,
    *,
    key: str | None = None,
    description: str | None = None,
) -> Run:
    """Start a run of the current script (or ``key``); returns it."""
    if _global["run"] is not None:
        raise TrackingError(f"already tracking run {_global['run'].uid}; call tl.finish() first")
    path = _script_path()
    auto_key, source, git = _script_key(path)
    kind = "notebook" if path is not None and path.suffix == ".ipynb" else "script"
    transform = get_transform(key or auto_key, kind, source=source, description=description)
    parent = os.environ.get(ENV_PARENT_RUN) or None
    run = start_run(
        transform.key,
        kind,
        transform=transform,
        params=params,
        project=project,
        parent=Run.get_or_none(Run.uid == parent) if parent else None,
        engine="python",
        user=_user(),
        python_version=python_version(),
        environment=_environment(),
        git_repo=git.repo if git else None,
        git_commit=git.commit if git else None,
        **_liveness.process_fields(),
    )
    _liveness.install_sigterm()
    _global.update(
        run=run,
        token=_context.enter_run(run),
        git=git,
        env={k: os.environ.get(k) for k in (ENV_DB, ENV_STORAGE, ENV_PARENT_RUN)},
    )
    inst = _context.instance()
    os.environ.update(
        {ENV_DB: inst.settings.db, ENV_STORAGE: inst.settings.storage, ENV_PARENT_RUN: run.uid}
    )
    return run


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def finish(status: str = "completed", error: str | None = None) -> Run:
    """Finish the run started by ``track()``."""
    run = _global["run"]
    if run is None:
        raise TrackingError("no run to finish: call tl.track() first")
    git = _global["git"]
    finish_run(run, status, error=error, git_dirty=git.result() if git else None)
    _context.exit_run(run, _global["token"])
    for name, value in (_global["env"] or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _global.update(run=None, token=None, git=None, env=None)
    return run  # type: ignore[no-any-return]


@atexit.register
def _finish_at_exit() -> None:
    if _global["run"] is not None:
        with contextlib.suppress(Exception):  # at exit there is no one left to tell
            finish(*_exit_status())


def _exit_status() -> tuple[str, str | None]:
    """How a tracked script ended: SIGTERM and Ctrl-C abort it, an exception errors it."""
    signum = _liveness.terminated()
    if signum is not None:
        return "aborted", f"terminated by signal {signum} (SIGTERM)"
    failed = getattr(sys, "last_value", None)
    if isinstance(failed, KeyboardInterrupt):
        return "aborted", "KeyboardInterrupt"
    return ("errored", repr(failed)) if failed is not None else ("completed", None)


# -- decorators ---------------------------------------------------------------------------


@functools.cache
def _function_source(fn: Callable[..., Any]) -> tuple[str, str]:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = f"{fn.__module__}.{fn.__qualname__}"
    return source, hashlib.sha256(source.encode()).hexdigest()


def _bind(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {}
    bound.apply_defaults()
    return dict(bound.arguments)


def _module_name(fn: Callable[..., Any]) -> str:
    """The function's module; for a script run as ``__main__``, the script's name."""
    if fn.__module__ != "__main__":
        return fn.__module__
    path = _script_path()
    return path.stem if path is not None else "__main__"


@dataclass
class _Call:
    """One call of a decorated function: its run, or the reused result of a cache hit."""

    run: Run
    token: Any = None
    key: caching.Key | None = None
    hit: bool = False
    value: Any = None
    reads: Any = None  # the token of caching.start_reads, for a cached call that runs


class _Tracked:
    """What one decorated function needs at each call, computed once."""

    def __init__(self, fn: Callable[..., Any], key: str | None, kind: str, cache: Any) -> None:
        self.fn, self.kind = fn, kind
        self.key = key or f"{_module_name(fn)}.{fn.__qualname__}"
        self.signature = inspect.signature(fn)
        self.cache = caching.check_mode(cache)
        self._cached: tuple[Any, Transform] | None = None

    def transform(self) -> Transform:
        """The function's transform, looked up once per instance."""
        inst = _context.instance()
        if self._cached is None or self._cached[0] is not inst:
            source, digest = _function_source(self.fn)
            self._cached = (inst, get_transform(self.key, self.kind, source=source, hash=digest))
        return self._cached[1]

    def _lookup(self, values: dict[str, Any]) -> tuple[caching.Key | None, caching.Decision]:
        if not self.cache:
            return None, caching.Decision(None, None)
        key = caching.key(self.fn, values, transform=self.key)
        if self.cache == "refresh" and key.base is not None:
            return key, caching.Decision(None, "refresh requested")
        return key, caching.lookup(key)

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        values = _bind(self.signature, args, kwargs)
        params = {k: redact(v, k) for k, v in values.items() if k not in ("self", "cls")}
        key, decision = self._lookup(values)
        fields = {
            "transform": self.transform(),
            "params": params,
            "parent": _context.current_run(),
            "engine": "python",
            **_liveness.process_fields(),
        }
        if decision.entry is not None:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            source = decision.entry.run_id
            run = start_run(
                self.key, self.kind, status="cached", finished_at=now, cached_from=source, **fields
            )
            log.debug("cache hit for %s: reuses run %s", self.key, decision.entry.run_uid)
            return _Call(run, key=key, hit=True, value=caching.reuse(decision.entry, run))
        if decision.reason is not None:
            log.debug("cache miss for %s: %s", self.key, decision.reason)
        run = start_run(self.key, self.kind, cache_note=decision.reason, **fields)
        _liveness.install_sigterm()
        reads = caching.start_reads() if key is not None and key.base is not None else None
        try:  # Artifact and path arguments, hashed as the call starts (the adapters' rule;
            # a cached call's reads include them: checked again before a reuse)
            resolve_inputs(run, inputs_in(values.values()))
        except InvalidInput:  # a file changing while read: the call goes on
            log.warning("%s: inputs not linked", self.key, exc_info=True)
            if strict():
                if reads is not None:
                    caching.stop_reads(reads)
                raise
        return _Call(run, _context.enter_run(run), key, reads=reads)

    def end(self, call: _Call, error: BaseException | None, result: Any = None) -> None:
        run = call.run
        _context.exit_run(run, call.token)
        files = caching.stop_reads(call.reads) if call.reads is not None else {}
        if error is None:
            finish_run(run, "completed")
            if call.key is not None:
                self._record(call.key, run, result, files)
        elif isinstance(error, KeyboardInterrupt | SystemExit | GeneratorExit):
            finish_run(run, "aborted", error=f"{type(error).__name__}: {error}")
        else:
            trace = "".join(tb.format_exception(error))
            finish_run(run, "errored", error=f"{type(error).__name__}: {error}", traceback=trace)

    def _record(self, key: caching.Key, run: Run, result: Any, files: dict[str, str]) -> None:
        """Record the cache entry; a failure here costs the next call a re-run, never this
        call its result (logged with the traceback; re-raised under THREADLINE_STRICT)."""
        try:
            note = caching.record(key, run, result, files, replace=self.cache == "refresh")
        except Exception as exc:
            log.warning("%s: the cache entry was not recorded", self.key, exc_info=True)
            if strict():
                raise
            note = f"not cached: recording the entry failed ({type(exc).__name__})"
        if note is not None:
            log.debug("%s: %s", self.key, note)
            run.cache_note = f"{run.cache_note}; {note}" if run.cache_note else note
            Run.update(cache_note=run.cache_note).where(Run.id == run.id).execute()  # type: ignore[misc]


def _decorate(fn: F, key: str | None, kind: str, cache: Any) -> F:
    tracked = _Tracked(fn, key, kind, cache)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            call = tracked.begin(args, kwargs)
            if call.hit:
                return call.value
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                tracked.end(call, exc)
                raise
            tracked.end(call, None, result)
            return result

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        call = tracked.begin(args, kwargs)
        if call.hit:
            return call.value
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            tracked.end(call, exc)
            raise
        tracked.end(call, None, result)
        return result

    return run_sync  # type: ignore[return-value]


def flow(key: str | Callable[..., Any] | None = None, *, cache: bool | str = False) -> Any:
    """Decorate a function so each call is a Run of kind ``flow`` (bare or with a key).

    ``cache=True`` skips a call whose code, parameters and inputs match a completed
    earlier call (see threadline.caching); ``cache="refresh"`` runs and records anew."""
    if callable(key):
        return _decorate(key, None, "flow", cache)
    return lambda fn: _decorate(fn, key, "flow", cache)


def step(key: str | Callable[..., Any] | None = None, *, cache: bool | str = False) -> Any:
    """Decorate a function so each call is a Run of kind ``step`` under the current run
    (``cache`` as for ``flow``)."""
    if callable(key):
        return _decorate(key, None, "step", cache)
    return lambda fn: _decorate(fn, key, "step", cache)


__all__ = ["activate", "context", "finish", "flow", "step", "track"]
