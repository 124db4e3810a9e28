"""``CONTENT``: a Prefect cache policy keyed by content, by threadline's caching rule.

Prefect's ``INPUTS`` policy hashes a task's arguments by value: a path is a string, so a
file rewritten behind the same path is a false hit. ``CONTENT`` keys a task run the way
``@tl.step(cache=True)`` keys a call (``threadline.caching.key``): the task function's code
identity (its source, the local helpers, modules and constants it reaches, installed
packages by version), its parameters in canonical form with secrets masked, and the
content hash of every file, folder and artifact it is handed (unchanged files cost a
stat, through the instance's stat cache).

It is a ``prefect.cache_policies.CachePolicy``: use it alone
(``@task(cache_policy=CONTENT)``) or compose it with Prefect's own (``CONTENT + INPUTS``,
``CONTENT + TASK_SOURCE``). Prefect stores and loads the results as usual (a cache
policy turns result persistence on). A task handed a value with no canonical form gets a
key of its own for that run (never a hit, also inside a compound policy) and a log line.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import threadline

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

log = logging.getLogger("threadline.prefect")


@dataclass
class ContentPolicy(CachePolicy):
    """Key task runs by code, canonical parameters and input content (see module doc)."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        fn = task_ctx.task.fn
        transform = f"{fn.__module__}.{fn.__qualname__}"
        key = threadline.caching.key(fn, dict(inputs or {}), transform=transform)
        if key.base is None:
            log.info("task %s: %s", task_ctx.task.name, key.note)
            return f"uncacheable-{uuid.uuid4().hex}"
        return key.base


CONTENT = ContentPolicy()
