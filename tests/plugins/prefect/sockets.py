"""Prefect 3.9's own unclosed socket, kept inside the test that causes it.

An async flow run under ``asyncio.run`` leaves a client socket to the Prefect API open
(plain ``prefect.flow`` too, without threadline: ``test_sockets.py`` checks that it still
does). The socket is closed, with a ``ResourceWarning``, whenever the garbage collector
next runs: often inside the test, sometimes in a later test, where the suite's
``filterwarnings = error`` fails that unrelated test (seen once in CI on a busy machine).

``leaves_prefects_socket_open`` marks such a test: the warning is ignored while it runs,
and the garbage is collected before it returns, so the socket never outlives it.
"""

import contextlib
import functools
import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Any

UNCLOSED = r"unclosed <socket\.socket"


@contextlib.contextmanager
def prefects_socket_collected() -> Iterator[None]:
    """Ignore the unclosed-socket warning inside, and collect the garbage on the way out."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=UNCLOSED, category=ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def leaves_prefects_socket_open(test: Callable[..., Any]) -> Callable[..., Any]:
    """The test, run inside ``prefects_socket_collected`` (its fixtures are unchanged)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        with prefects_socket_collected():
            return test(*args, **kwargs)

    return run
