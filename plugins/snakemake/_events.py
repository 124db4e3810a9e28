"""Snakemake log records -> frozen dataclasses (what the recorder needs, nothing live).

Snakemake 9 sends structured events as ``LogRecord`` attributes (``record.event`` is a
``LogEvent``, a ``str`` enum). Records are parsed here in the listener thread; live objects
(``ResourceList``, ``uuid.UUID``) become plain values so nothing refers back to Snakemake.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from ._files import Reported, parse_reported

# resources Snakemake adds itself (underscored) or derives from others ("mem" from "mem_mb")
HIDDEN_RESOURCES = ("_nodes", "_cores", "mem", "disk", "mem_mib", "disk_mib", "tmpdir")


@dataclass(frozen=True)
class WorkflowInfo:
    """``workflow_started``: who ran which Snakefile where."""

    workflow_id: str
    snakefile: str
    workdir: str
    cmd: str
    host: str | None
    user: str | None
    snakemake_version: str | None
    config_md5: str | None
    started_at: dt.datetime


@dataclass(frozen=True)
class JobInfo:
    """``job_info``: one job of a rule, as scheduled."""

    jobid: int
    rule: str
    inputs: tuple[Reported, ...]
    outputs: tuple[Reported, ...]
    logs: tuple[Reported, ...]
    benchmark: Reported | None
    wildcards: tuple[tuple[str, str], ...]
    threads: int | None
    resources: tuple[tuple[str, Any], ...]
    shellcmd: str | None
    reason: str | None
    message: str | None
    started_at: dt.datetime

    @property
    def name(self) -> str:
        """``make (sample=A)``: the rule and its wildcards, for people."""
        if not self.wildcards:
            return self.rule
        return f"{self.rule} ({', '.join(f'{k}={v}' for k, v in self.wildcards)})"

    def features(self) -> dict[str, Any]:
        """What the job run is annotated with (wildcards under their own names); the rule
        and the job id are the run's transform and reference already."""
        values: dict[str, Any] = {
            "threads": self.threads,
            "shellcmd": self.shellcmd,
            "reason": self.reason,
        }
        if self.resources:
            values["resources"] = dict(self.resources)
        values.update(self.wildcards)
        return {k: v for k, v in values.items() if v is not None}


def event_of(record: logging.LogRecord) -> str | None:
    event = getattr(record, "event", None)
    return None if event is None else str(getattr(event, "value", event))


def created(record: logging.LogRecord) -> dt.datetime:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).replace(tzinfo=None)


def parse_workflow(record: logging.LogRecord) -> WorkflowInfo:
    attrs = record.__dict__
    return WorkflowInfo(
        workflow_id=str(attrs.get("workflow_id") or ""),
        snakefile=str(attrs.get("snakefile_main") or attrs.get("snakefile") or "Snakefile"),
        workdir=str(attrs.get("cwd") or attrs.get("rundir") or "."),
        cmd=str(attrs.get("cmd") or ""),
        host=_text(attrs.get("host")),
        user=_text(attrs.get("user")),
        snakemake_version=_text(attrs.get("snakemake_version")),
        config_md5=_text(attrs.get("config_md5")),
        started_at=created(record),
    )


def parse_job(record: logging.LogRecord) -> JobInfo:
    attrs = record.__dict__
    benchmark = attrs.get("benchmark")
    if isinstance(benchmark, list | tuple):  # some callers send a list
        benchmark = benchmark[0] if benchmark else None
    threads = attrs.get("threads")
    return JobInfo(
        jobid=int(attrs["jobid"]),
        rule=str(attrs.get("rule_name") or "?"),
        inputs=_files(attrs.get("input")),
        outputs=_files(attrs.get("output")),
        logs=_files(attrs.get("log")),
        benchmark=parse_reported(str(benchmark)) if benchmark else None,
        wildcards=tuple((str(k), str(v)) for k, v in dict(attrs.get("wildcards") or {}).items()),
        threads=int(threads) if isinstance(threads, int) else None,
        resources=_resources(attrs.get("resources")),
        shellcmd=_text(attrs.get("shellcmd")),
        reason=_text(attrs.get("reason")),
        message=_text(attrs.get("rule_msg")),
        started_at=created(record),
    )


def _files(values: Any) -> tuple[Reported, ...]:
    return tuple(parse_reported(str(v)) for v in (values or ()) if v and str(v) != "<TBD>")


def _resources(values: Any) -> tuple[tuple[str, Any], ...]:
    """Resources as plain JSON values; Snakemake's bookkeeping entries left out."""
    items = values.items() if hasattr(values, "items") else ()
    plain = []
    for name, value in items:
        if name in HIDDEN_RESOURCES or name.startswith("_"):
            continue
        if isinstance(value, bool | int | float | str):
            plain.append((str(name), value))
    return tuple(plain)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
