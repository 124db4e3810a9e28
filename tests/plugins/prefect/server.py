"""One Prefect API server for the test session, shared by every test that needs one.

Prefect always needs an API server. ``prefect_test_harness`` starts one (uvicorn in a
subprocess, fresh SQLite) in about 20-30 s on a 2-core machine, so the session starts it
once, on first use, and stops it at the end. The settings come from
shared/PREFECT_NOTES.md §A2: without them every flow after a big one stalls for 15-60 s
while the server writes the previous flow's events. They are applied both as
environment variables (read by the server subprocess and by a Prefect imported later)
and as Prefect settings (for a Prefect already imported), and put back at the end.

Two fixture definitions (tests/plugins/prefect and tests/docs) share this one server:
each holds a reference, and the last to let go stops it.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from threadline.prefect import SERVER_SETTINGS

SETTINGS = SERVER_SETTINGS  # threadline.prefect: UI, services and log shipping off

_stack: contextlib.ExitStack | None = None
_users = 0


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _start(stack: contextlib.ExitStack) -> None:
    home = stack.enter_context(tempfile.TemporaryDirectory(prefix="prefect-home-"))
    stack.enter_context(_environment({**SETTINGS, "PREFECT_HOME": home}))
    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    updates: dict[Any, Any] = {
        getattr(prefect.settings, name): value
        for name, value in {**SETTINGS, "PREFECT_HOME": home}.items()
    }
    stack.enter_context(prefect.settings.temporary_settings(updates=updates))
    stack.enter_context(prefect_test_harness(server_startup_timeout=120))


@contextlib.contextmanager
def prefect_server() -> Iterator[None]:
    """The shared server: started by the first user, stopped after the last."""
    global _stack, _users
    if _stack is None:
        stack = contextlib.ExitStack()
        try:
            _start(stack)
        except BaseException:
            stack.close()
            raise
        _stack = stack
    _users += 1
    try:
        yield
    finally:
        _users -= 1
        if _users == 0 and _stack is not None:
            stack, _stack = _stack, None
            stack.close()


def script_environment(**extra: str) -> dict[str, str]:
    """The environment of a flow script run in a subprocess, as a user runs one: this
    server's API and the current threadline instance, plus ``extra``."""
    import prefect.settings
    import threadline as tl

    settings = tl.instance().settings
    return {
        **os.environ,
        "PREFECT_API_URL": str(prefect.settings.PREFECT_API_URL.value()),
        "THREADLINE_DB": settings.db,
        "THREADLINE_STORAGE": settings.storage,
        **extra,
    }
