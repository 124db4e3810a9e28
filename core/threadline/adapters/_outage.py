"""When the background writer retries a batch: the database cannot take it now (it cannot
be reached, or another process holds SQLite's write lock past the busy timeout), for at
most ``THREADLINE_WRITER_RETRY_S`` seconds (60 by default)."""

import contextlib
import logging
import os

from .._db import unwrap
from ..models import Run

ENV_RETRY = "THREADLINE_WRITER_RETRY_S"
RETRY_S = 60.0
log = logging.getLogger("threadline.adapters")


def unavailable(error: Exception) -> bool:
    """Whether the database cannot take a batch now: it cannot be reached, or another
    process has held SQLite's write lock past the busy timeout."""
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text or not _reachable()


def _reachable() -> bool:
    """Whether the database answers (after reopening this thread's connection)."""
    db = unwrap(Run._meta.database)
    with contextlib.suppress(Exception):
        db.close()
    try:
        db.execute_sql("SELECT 1")
    except Exception:
        return False
    return True


def retry_s_from_env() -> float:
    text = os.environ.get(ENV_RETRY, "").strip()
    try:
        return float(text) if text else RETRY_S
    except ValueError:
        log.warning(
            "threadline: %s=%r is not a number of seconds; using %s", ENV_RETRY, text, RETRY_S
        )
        return RETRY_S
