"""Adapters never break training: threadline failures inside Lightning hooks are logged.

Each failure is logged with its traceback on ``threadline.lightning`` (once per place and
callback, so a broken database does not flood the log every epoch) and training goes on. Setting
``THREADLINE_STRICT=1`` re-raises instead, so tests cannot pass on swallowed errors.
"""

import contextlib
import logging
from collections.abc import Iterator

from threadline import adapters

log = logging.getLogger("threadline.lightning")


@contextlib.contextmanager
def guarded(where: str, reported: set[str]) -> Iterator[None]:
    """Run the block; an exception is logged (the first time ``where`` is not yet in
    ``reported``, the caller's memory of what it logged), not raised."""
    try:
        yield
    except Exception:
        if adapters.strict():
            raise
        if where not in reported:
            reported.add(where)
            log.error("threadline: %s failed; training continues without it", where, exc_info=True)
