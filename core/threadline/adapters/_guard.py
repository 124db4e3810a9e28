"""The one rule for every engine callback: threadline never fails the host engine.

A ``Guard`` wraps each callback (as a ``with`` block or a decorator). A failure inside is
logged with its traceback on ``threadline.<engine>`` the first time its kind (place and
exception type) is seen and at DEBUG after that, so a database outage in a 10,000-task
run is one traceback, not 10,000; it is recorded in ``Guard.failures``; and the engine
goes on. With ``THREADLINE_STRICT=1`` (threadline's own tests) the failure is raised again
after logging, so tests cannot pass on swallowed errors.
"""

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

ENV_STRICT = "THREADLINE_STRICT"


def strict() -> bool:
    """Whether ``THREADLINE_STRICT`` asks adapters to re-raise their own failures instead of
    logging them and letting the engine go on (set to ``1`` by threadline's tests)."""
    return os.environ.get(ENV_STRICT, "").strip().lower() not in ("", "0", "false", "no")


class Guard:
    """Never fail the host engine: ``with guard("saving outputs"): ...`` or
    ``@guard("a task run")`` logs a failure once per kind, records it, and goes on.

    ``engine`` names the logger (``threadline.<engine>``); ``host`` says in the log line
    what carries on regardless ("the workflow", "training"). ``failures`` lists every
    failure caught, as ``"<where>: <exception type>"``; ``reset()`` forgets which kinds were
    logged (a new top-level run logs its own once).
    """

    def __init__(self, engine: str, *, host: str = "the engine's run") -> None:
        self.engine, self.host = engine, host
        self.log = logging.getLogger(f"threadline.{engine}")
        self.failures: list[str] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def __call__(self, where: str) -> "Guarded":
        return Guarded(self, where)

    def report(self, where: str, error: BaseException) -> None:
        """Log and record a failure caught elsewhere (a background write): the first of
        its kind at ERROR with its traceback, the rest at DEBUG."""
        kind = f"{where}: {type(error).__name__}"
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
            self.failures.append(kind)
        level = logging.ERROR if first else logging.DEBUG
        self.log.log(
            level,
            "threadline could not record %s (%s is not affected%s): %s",
            where,
            self.host,
            "; later failures of this kind are logged at DEBUG" if first else "",
            error,
            exc_info=error,
        )


class Guarded:
    """``guard(where)``: a ``with`` block, or a decorator that guards every call. A plain
    class, not a ``contextlib`` generator: it wraps every hook call of every engine, and a
    generator-based manager costs several Python calls more on each."""

    __slots__ = ("guard", "where")

    def __init__(self, guard: Guard, where: str) -> None:
        self.guard, self.where = guard, where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> bool:
        if not isinstance(error, Exception):  # none, or KeyboardInterrupt, SystemExit...
            return False
        self.guard.report(self.where, error)
        return not strict()  # True: swallowed, the engine goes on

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard, where = self.guard, self.where

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                guard.report(where, error)
                if strict():
                    raise
                return None

        return guarded
