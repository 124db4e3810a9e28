"""A failing pipe group ends the run, with the logger as without it.

Snakemake runs a pipe group's jobs together and, when one fails, kills the others. A
member whose process starts after that kill escapes it (Snakemake's own race), waits on
its stream forever, and holds the run's output open: the command never returns to a
caller reading its output. The logger must not widen that race: its synchronous handler
never makes a job thread wait (``Witness.handle``). Each run here is the ``snakemake``
command with its output piped, as CI reads it, in a session of its own; a run that does
not end within the (generous) timeout, or leaves a process behind, fails the test.
"""

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import threadline as tl

from tests import harness
from tests.plugins.snakemake.conftest import SNAKEMAKE, copy_workflow

RUNS = 10
TIMEOUT = 120  # seconds; a run takes a few on an idle machine


def run_once(folder: Path, *args: str) -> tuple[int | None, bool]:
    """(exit code or None when it never ended, whether a process of it was left)."""
    for name in folder.glob("counted.*"):
        name.unlink()
    child = subprocess.Popen(
        [str(SNAKEMAKE), "--cores", "4", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its process group: what it leaves behind is found
    )
    try:
        child.communicate(timeout=TIMEOUT)
        code: int | None = child.returncode
    except subprocess.TimeoutExpired:
        code = None
    left = harness.group_alive(child.pid)  # zombies awaiting init's reaping are not left
    if code is None or left:
        os.killpg(child.pid, signal.SIGKILL)  # this test's own processes only
        child.communicate()
    return code, left


def test_a_failing_pipe_group_ends_every_run_as_without_the_logger(local_instance, tmp_path):
    folder = copy_workflow("failing_pipe", tmp_path)
    plain, _ = run_once(folder)
    assert plain == 1
    ends = [run_once(folder, "--logger=threadline") for _ in range(RUNS)]
    assert ends == [(plain, False)] * RUNS
    pipelines = tl.Run.filter(engine="snakemake", parent=None)
    assert [r.status for r in pipelines] == ["errored"] * RUNS


def test_a_job_thread_never_waits_for_the_witness(local_instance):
    """While the witness works on a main-thread event (its lock held, as when it hashes a
    job's inputs), a job thread's record (a ``script:`` job's shell command, logged just
    before its process starts) passes through at once; a witnessed event waits its turn."""
    from snakemake_interface_logger_plugins.common import LogEvent
    from threadline import adapters
    from threadline.snakemake._witness import SNAKEMAKE_LOGGER, Witness

    witness = Witness(adapters.Guard("snakemake"))
    logger = logging.getLogger(SNAKEMAKE_LOGGER)
    witness.attach()
    passed: list[str] = []

    def log(event: LogEvent) -> None:  # what logger.info does once past the level check
        extra = {"event": event, "jobid": 1, "job_id": 1}
        logger.handle(
            logger.makeRecord(logger.name, logging.INFO, "", 0, None, (), None, None, extra)
        )
        passed.append(str(event))

    try:
        assert witness.lock is not None  # logging.Handler's own lock, and the witness's
        with witness.lock, witness.events_lock:  # the main thread, busy in the witness
            shell = threading.Thread(target=log, args=(LogEvent.SHELLCMD,))
            shell.start()
            shell.join(timeout=30)
            finished = threading.Thread(target=log, args=(LogEvent.JOB_FINISHED,))
            finished.start()
            finished.join(timeout=0.5)
            assert passed == ["shellcmd"]  # the witnessed event is still waiting
        finished.join(timeout=30)
        assert passed == ["shellcmd", "job_finished"]
    finally:
        witness.detach()
