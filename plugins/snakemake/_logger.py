"""The logger plugin: ``snakemake --logger threadline``.

Snakemake hands every log record to ``LogHandler.emit`` on its log listener thread; the
handler picks out the structured events and passes them to a ``Recorder``. What must
happen before a job starts (the instance opened, the pipeline run written, the variables
jobs inherit set) is done on Snakemake's main thread by the witness (``_witness``). A failure in
threadline is caught by the adapter API's ``Guard``: logged once per kind on
``threadline.snakemake``, listed in ``LogHandler.failures``, and it never reaches Snakemake
(``THREADLINE_STRICT=1`` re-raises, for tests). Dry runs (``-n``) record nothing.

No ``from __future__ import annotations`` here: Snakemake builds its command-line options
from the settings' field types and needs them as real types.
"""

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase
from threadline import adapters

from ._events import created, event_of, parse_job, parse_workflow
from ._recorder import Recorder
from ._register import Options
from ._witness import Witness


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """``--logger-threadline-*`` options (also settable in a workflow profile).

    ``Optional[str]``, not ``str | None``: Snakemake's option builder understands only
    ``typing.Optional``.
    """

    db: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Database URL of the threadline instance (sqlite:////abs/path.db or "
            "postgresql://...); default: THREADLINE_DB, the nearest threadline.toml, "
            "or the embedded default.",
            "env_var": False,
        },
    )
    storage: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Storage root of the threadline instance (a folder or s3://bucket/prefix); "
            "give it together with --logger-threadline-db.",
            "env_var": False,
        },
    )
    key_prefix: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Key of the pipeline transform and prefix of every output artifact key "
            "(default: the Snakefile's path; output keys are paths under the "
            "working directory).",
            "env_var": False,
        },
    )
    project: Optional[str] = field(  # noqa: UP045
        default=None,
        metadata={
            "help": "Project name the pipeline and job runs are filed under.",
            "env_var": False,
        },
    )
    skip_unknown_inputs: bool = field(
        default=False,
        metadata={
            "help": "Link only inputs threadline already knows; do not register unknown "
            "input files as new artifacts.",
            "env_var": False,
        },
    )
    skip_logs: bool = field(
        default=False,
        metadata={"help": "Do not save jobs' log files as artifacts.", "env_var": False},
    )

    def options(self) -> Options:
        return Options(
            db=self.db,
            storage=self.storage,
            key_prefix=self.key_prefix,
            project=self.project,
            register_unknown_inputs=not self.skip_unknown_inputs,
            capture_logs=not self.skip_logs,
        )


class LogHandler(LogHandlerBase):
    """Records the workflow invocation in threadline (see the module docstring)."""

    def __post_init__(self) -> None:
        settings = (
            self.settings if isinstance(self.settings, LogHandlerSettings) else LogHandlerSettings()
        )
        self.guard = adapters.Guard("snakemake", host="the workflow")
        self.disabled = bool(getattr(self.common_settings, "dryrun", False))
        options = settings.options()
        # an exception already being handled where the workflow was set up is not its own
        self.handled_before = sys.exc_info()[1]
        self.witness = Witness(self.guard)
        self.recorder = recorder = Recorder(options, self.witness)
        self.witness.on_start = lambda record: recorder.workflow_started(parse_workflow(record))
        self.witness.on_job = recorder.jobs_may_start
        if not self.disabled:
            self.witness.attach()  # Snakemake's main thread: see _witness

    # what Snakemake asks of a plugin handler
    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # see every record, whatever --quiet hides from the console

    @property
    def has_formatter(self) -> bool:
        return True  # records are read, never formatted

    @property
    def needs_rulegraph(self) -> bool:
        return False

    @property
    def failures(self) -> list[str]:
        """Every threadline failure caught so far, as ``"<where>: <exception type>"``."""
        return self.guard.failures

    def emit(self, record: logging.LogRecord) -> None:
        if self.disabled:
            return
        event = event_of(record) or "message"
        with self.guard(f"Snakemake's {event} event"):
            try:
                self._dispatch(event, record)
            except Exception:
                if event == "workflow_started":  # no instance or no run: stop trying
                    self.disabled = True
                raise

    def _dispatch(self, event: str, record: logging.LogRecord) -> None:
        recorder = self.recorder
        if event == "workflow_started":
            recorder.workflow_started(parse_workflow(record))
        elif event == "job_info":
            recorder.job_info(parse_job(record))
        elif event == "job_finished":
            recorder.job_finished(int(record.__dict__["job_id"]), created(record))
        elif event == "job_error":
            recorder.job_error(int(record.__dict__["jobid"]), record.getMessage(), created(record))
        elif event == "error":
            recorder.error(record.getMessage(), record.__dict__.get("exception"))
        elif event == "message":
            recorder.message(str(record.msg))
        recorder.tick()

    def _the_workflows(self, exc: BaseException) -> bool:
        """An exception leaving the API that the workflow raised: not one the caller was
        already handling when the handler was made, nor the caller's own code's."""
        return exc is not self.handled_before and out_of_the_workflow(exc)

    def close(self) -> None:
        try:
            if not self.disabled:
                with self.guard("the end of the Snakemake workflow"):
                    raised = sys.exc_info()[1]  # leaving Snakemake's API (``with``) by it
                    if raised is not None and self._the_workflows(raised):
                        self.recorder.raised(raised)
                    self.recorder.close()
        finally:
            self.witness.detach()
            super().close()


def out_of_the_workflow(exc: BaseException) -> bool:
    """Whether ``exc`` came out of Snakemake: its traceback passes through Snakemake's own
    code (running the workflow, ``execute_workflow``). The caller's own code inside
    ``with SnakemakeApi(...)``, raising after the workflow returned, is not the workflow's.
    Not found (no Snakemake loaded, which cannot be here): it counts."""
    init = getattr(sys.modules.get("snakemake"), "__file__", None)
    if not init:
        return True
    package = os.path.dirname(os.path.abspath(init)) + os.sep
    tb = exc.__traceback__
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(package):
            return True
        tb = tb.tb_next
    return False
