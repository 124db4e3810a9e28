"""A test helper: the SQL statements peewee runs inside a block, read from its logger."""

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def recorded_sql() -> Iterator[list[str]]:
    """Yield a list that fills with each statement's SQL text while the block runs."""
    statements: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.msg
            statements.append(str(msg[0] if isinstance(msg, tuple) else msg))

    logger = logging.getLogger("peewee")
    handler, level = Collect(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
