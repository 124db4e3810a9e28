"""Prefect tests run against one real Prefect API server for the session (see server.py).

Every test gets a fresh threadline instance (``local_instance``), strict mode
(``THREADLINE_STRICT=1``: hook failures are raised after logging) and a check that the
adapter logged no failure, so a test cannot pass on a swallowed error.
"""

import importlib.util
import logging
from collections.abc import Iterator

import pytest

from tests.plugins.prefect.server import prefect_server

if (
    importlib.util.find_spec("prefect") is None or importlib.util.find_spec("prefect_dask") is None
):  # the extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "flows_*.py"]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    with prefect_server():
        yield


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def hook_failures() -> Iterator[list[logging.LogRecord]]:
    """ERROR records of the ``threadline.prefect`` logger during the test."""
    handler = _Failures()
    logger = logging.getLogger("threadline.prefect")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def tracked(
    prefect_api: None,
    local_instance: object,
    hook_failures: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[object]:
    """A fresh instance, strict hooks, and no hook failure logged (a test about
    failures empties ``hook_failures`` once it has checked them)."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    yield local_instance
    _sent()
    assert [r.getMessage() for r in hook_failures] == []


@pytest.fixture
def tracked_db(
    prefect_api: None,
    db_instance: object,
    hook_failures: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[object]:
    """``tracked`` on SQLite and on PostgreSQL."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    yield db_instance
    _sent()
    assert [r.getMessage() for r in hook_failures] == []


def _sent() -> None:
    """The flow runs' markdown artifacts, sent in the background, are sent (a failure to
    send one is then among the hook failures)."""
    from threadline.prefect import _report

    _report.wait()
