"""Hook failures never fail the user's flow: log each kind once, loudly, and go on.

Prefect would catch an exception from a hook itself, but it would log it on every task
run. Here the first failure of each (hook, exception type) in a top-level flow run is
logged at ERROR with its traceback on the ``threadline.prefect`` logger and repeats at
DEBUG, so a database outage in a 10,000-task flow is one traceback, not 10,000. With
``THREADLINE_STRICT=1`` (threadline's own tests) the exception is raised again after
logging; Prefect then logs it too, and the flow still goes on.
"""

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from threadline import adapters

log = logging.getLogger("threadline.prefect")

F = TypeVar("F", bound=Callable[..., Any])
_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()


def strict() -> bool:
    return adapters.strict()


def reset() -> None:
    """Forget which failures were logged: each top-level flow run logs its own once."""
    with _lock:
        _seen.clear()


def report(where: str, error: BaseException) -> None:
    """Log ``error`` raised by threadline in ``where``: the first of its kind loudly."""
    kind = (where, type(error).__name__)
    with _lock:
        first = kind not in _seen
        _seen.add(kind)
    if first:
        log.error(
            "threadline could not record %s (the Prefect run is not affected; "
            "later failures of this kind are logged at DEBUG): %s",
            where,
            error,
            exc_info=error,
        )
    else:
        log.debug("threadline could not record %s: %s", where, error, exc_info=error)


def guarded(where: str) -> Callable[[F], F]:
    """Decorate a hook body so that its failures are reported, never raised (unless
    strict)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                report(where, error)
                if strict():
                    raise
                return None

        return run  # type: ignore[return-value]

    return wrap
