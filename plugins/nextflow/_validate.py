"""Weblog bodies checked before the receiver answers them.

Everything applying an event will read is checked here, without the database: the
envelope, ``metadata`` (a JSON object with a ``workflow`` object whose dates parse), the
``trace`` of task events (dates, numeric metrics, a work dir or hash naming the task),
the lengths the run columns hold, and how deep the JSON nests. A body that fails gets a
400 with the one-line reason and is not queued, so nothing of it is written.
"""

import datetime as dt
import json
from math import isfinite
from typing import Any

from threadline.errors import EventError

from ._tasks import METRIC_NAMES
from ._trace import FIELD_TYPES

EVENTS = (
    "started",
    "process_submitted",
    "process_started",
    "process_completed",
    "error",
    "completed",
)
MAX_DEPTH = 64  # nesting of a real event: 6 (the OffsetDateTime bean's zone rules)
MAX_NAME = 255  # the run name, user and reference columns
MAX_TEXT = 512  # pipeline identity: repository, commit, revision, script id, project
_TEXTS = ("repository", "commitId", "revision", "scriptId", "projectName", "userName")
_DATES = ("submit", "start", "complete")


def parse_body(body: bytes) -> dict[str, Any]:
    """The event in a body (latin-1, as Nextflow writes), checked; else ``EventError``."""
    try:
        event = json.loads(body.decode("latin-1"), parse_constant=_no_constant)
    except RecursionError:
        raise EventError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise EventError(f"not JSON: {str(exc).splitlines()[0][:120]}") from None
    return check_event(event)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_event(event: Any) -> dict[str, Any]:
    """The event if applying it can succeed, else ``EventError`` saying why not."""
    if not isinstance(event, dict):
        raise EventError("not a JSON object")
    _check_depth(event)
    for name in ("event", "runName", "runId"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise EventError(f"no {name!r}")
    if event["event"] not in EVENTS:
        raise EventError(f"unknown event {event['event'][:40]!r}")
    if len(event["runId"]) + len(event["runName"]) >= MAX_NAME:
        raise EventError(f"runId and runName longer than {MAX_NAME - 1} characters together")
    if event.get("metadata") is not None:
        _check_metadata(event["metadata"])
    trace, task_event = event.get("trace"), event["event"].startswith("process_")
    if trace is None and task_event:
        raise EventError(f"{event['event']} without a trace")
    if trace is not None and not isinstance(trace, dict):
        raise EventError(f"trace is not a JSON object: {_shown(trace)}")
    if trace is not None and (trace or task_event):  # an error event's may be empty
        check_trace(trace)
    return event


def _check_depth(value: Any) -> None:
    """No container nested deeper than ``MAX_DEPTH`` (iterative: no recursion limit)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return
    raise EventError(f"JSON nested deeper than {MAX_DEPTH} levels")


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{where} is not a JSON object: {_shown(value)}")
    return value


def _check_metadata(metadata: Any) -> None:
    meta = _object(metadata, "metadata")
    _object(meta.get("parameters"), "metadata.parameters")
    workflow = _object(meta.get("workflow"), "metadata.workflow")
    for name in (*_TEXTS, "commandLine", "errorMessage"):
        _text(workflow.get(name), f"metadata.workflow.{name}")
    for name in _TEXTS:
        if len(workflow.get(name) or "") > (MAX_NAME if name == "userName" else MAX_TEXT):
            raise EventError(f"metadata.workflow.{name} is too long")
    for name in ("start", "complete"):
        check_date(workflow.get(name), f"metadata.workflow.{name}")
    if not isinstance(workflow.get("success"), bool | None):
        raise EventError(f"metadata.workflow.success is not true or false: {_shown(workflow)}")
    manifest = _object(workflow.get("manifest"), "metadata.workflow.manifest")
    _text(manifest.get("name"), "metadata.workflow.manifest.name")
    nextflow = _object(workflow.get("nextflow"), "metadata.workflow.nextflow")
    _text(nextflow.get("version"), "metadata.workflow.nextflow.version")


def check_trace(trace: dict[str, Any]) -> None:
    """A task's trace record: what naming, dating and measuring the task reads."""
    for name in ("name", "process", "tag", "status", "hash", "workdir"):
        _text(trace.get(name), f"trace.{name}")
    for name in ("name", "process"):
        if len(trace.get(name) or "") > MAX_NAME:
            raise EventError(f"trace.{name} longer than {MAX_NAME} characters")
    workdir, digest = trace.get("workdir"), trace.get("hash")
    if workdir is not None and len([p for p in workdir.split("/") if p]) < 2:
        raise EventError(f"trace.workdir is not a task work dir: {_shown(workdir)}")
    if not workdir and not digest:
        raise EventError("trace has neither a workdir nor a hash")
    if len("".join(workdir.split("/")[-2:]) if workdir else str(digest)) > MAX_NAME:
        raise EventError(f"trace task hash longer than {MAX_NAME} characters")
    for name in ("exit", "attempt"):
        value = trace.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31
        ):
            raise EventError(f"trace.{name} is not a whole number: {_shown(value)}")
    for name in ("task_id", "native_id"):
        value = trace.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise EventError(f"trace.{name} is not a number or text: {_shown(value)}")
    for name in _DATES:
        check_date(trace.get(name), f"trace.{name}")
    for field, feature in METRIC_NAMES.items():
        value = trace.get(field)
        if value is None or FIELD_TYPES.get(field, "str") == "str":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
            raise EventError(f"trace field {field!r} ({feature}) is not a number: {_shown(value)}")


def check_date(value: Any, where: str) -> None:
    try:
        java_date(value)
    except EventError as exc:
        raise EventError(f"{where}: {exc}") from None


def java_date(value: Any) -> dt.datetime | None:
    """UTC (naive) from an ISO string, epoch ms, or a Java OffsetDateTime bean."""
    if value is None or (not isinstance(value, bool) and value in (0, "")):
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value / 1000, dt.UTC).replace(tzinfo=None)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value)
        elif isinstance(value, dict) and "year" in value:
            parsed = _bean(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError, KeyError):
        raise EventError(f"not a date: {_shown(value)}") from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _bean(value: dict[str, Any]) -> dt.datetime:
    """A Java ``OffsetDateTime`` serialized as a bean (Nextflow 19.10 and later)."""
    year, month, day, hour, minute, second = (
        value[k] for k in ("year", "monthValue", "dayOfMonth", "hour", "minute", "second")
    )
    nano = value.get("nano") or 0
    offset = _object(value.get("offset"), "offset").get("totalSeconds") or 0
    if not all(type(p) is int for p in (year, month, day, hour, minute, second, nano, offset)):
        raise TypeError
    zone = dt.timezone(dt.timedelta(seconds=offset))
    return dt.datetime(year, month, day, hour, minute, second, nano // 1000, zone)


def _text(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise EventError(f"{where} is not text: {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
