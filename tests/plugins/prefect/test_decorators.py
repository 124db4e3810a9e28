"""The decorators: Prefect's arguments pass through, user hooks are kept, copies made
with with_options stay tracked, and instrument() tracks objects decorated elsewhere."""

import prefect
import pytest
import threadline as tl
from threadline.errors import InvalidInput
from threadline.prefect import TrackedFlow, TrackedTask, flow, instrument, task


def test_prefect_arguments_pass_through_and_user_hooks_are_kept(tracked):
    calls = []

    def note(task_, task_run, state):
        calls.append(("task", state.name))

    def note_flow(flow_, flow_run, state):
        calls.append(("flow", state.name))

    shared = [note]  # a hook list shared by two tasks is not appended to in place

    @task(name="renamed", tags=["qc"], retries=1, on_completion=shared)
    def one() -> int:
        return 1

    @task(on_completion=shared)
    def two() -> int:
        return 2

    @flow(name="args-flow", version="v7", on_completion=[note_flow], log_prints=True)
    def args_flow() -> int:
        return one() + two()

    assert isinstance(one, TrackedTask) and isinstance(args_flow, TrackedFlow)
    assert (one.name, one.tags, one.retries, args_flow.version) == ("renamed", {"qc"}, 1, "v7")
    assert shared == [note]
    assert args_flow() == 3

    assert calls == [("task", "Completed"), ("task", "Completed"), ("flow", "Completed")]
    flow_run = tl.Run.get(transform__key="args-flow")
    assert sorted(r.transform.key for r in flow_run.children) == [
        "args-flow/renamed",
        "args-flow/two",
    ]
    assert flow_run.transform.reference == "v7"  # Prefect's version is kept for reference


def test_with_options_copies_stay_tracked(tracked):
    calls = []

    @task
    def base(x: int) -> int:
        return x

    other = base.with_options(name="other", on_completion=[lambda *a: calls.append("hook")])

    @flow(name="copies")
    def copies() -> int:
        return base(1) + other(2)

    variant = copies.with_options(name="copies-variant")
    assert isinstance(other, TrackedTask) and isinstance(variant, TrackedFlow)
    assert variant() == 3 and calls == ["hook"]

    flow_run = tl.Run.get(transform__key="copies-variant")
    assert sorted(r.transform.key for r in flow_run.children) == [
        "copies-variant/base",
        "copies-variant/other",
    ]


def test_instrument_tracks_objects_decorated_elsewhere(tracked):
    @prefect.task
    def plain_task(x: int) -> int:
        return x + 1

    @prefect.flow(name="plain-flow")
    def plain_flow() -> int:
        return plain_task(1)

    assert instrument(plain_task, track_inputs=False) is plain_task
    assert instrument(instrument(plain_flow)) is plain_flow  # twice adds nothing
    assert [type(h).__name__ for h in plain_flow.on_running_hooks] == ["Hook"]
    assert plain_flow() == 2

    flow_run = tl.Run.get(transform__key="plain-flow")
    assert [r.transform.key for r in flow_run.children] == ["plain-flow/plain_task"]
    with pytest.raises(TypeError, match="takes a Prefect flow, task or module"):
        instrument(lambda: 1)


def test_bad_options_are_one_clear_error(tracked):
    with pytest.raises(InvalidInput, match="key= or key_template=, not both"):
        task(key="a", key_template="b")


def test_crashed_flow_is_aborted(tracked):
    @task
    def stop() -> None:
        raise SystemExit(3)  # a BaseException: Prefect marks the runs Crashed

    @flow(name="crashing")
    def crashing() -> None:
        stop()

    with pytest.raises(SystemExit):
        crashing()

    run = tl.Run.get(transform__key="crashing")
    assert run.status == "aborted" and run.finished_at is not None
    task_run = tl.Run.get(transform__key="crashing/stop")  # no hook in Prefect for it
    assert task_run.status == "aborted" and task_run.finished_at is not None
    assert tl.context.run is None  # no run left current after the crash


def test_materializing_task_and_a_flow_called_inside_a_task(tracked):
    from prefect.assets import materialize
    from threadline.prefect import TrackedMaterializingTask

    @materialize("file:///tmp/threadline-prefect-test/table.csv")
    def build(n: int) -> int:
        return n * 2

    @flow(name="inner")
    def inner(n: int) -> int:
        return n + 1

    @task
    def wrapper(n: int) -> int:
        return inner(n)  # a flow called inside a task: its run is under the task's run

    @flow(name="outer")
    def outer() -> int:
        return build(2) + wrapper(1)

    assert isinstance(instrument(build), TrackedMaterializingTask)
    assert outer() == 6

    wrapper_run = tl.Run.get(transform__key="outer/wrapper")
    assert [r.transform.key for r in wrapper_run.children] == ["inner"]
    assert tl.Run.get(transform__key="outer/build").status == "completed"


def test_prefect_logs_no_lines_about_threadline_hooks(tracked):
    """Prefect logs each hook call twice and ships the lines to its API; threadline's
    own hooks stay out of the task and flow logs, the user's hooks stay in."""
    import logging

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    def note(task_, task_run, state):
        pass

    @task(on_completion=[note])
    def one() -> int:
        return 1

    @flow(name="quiet-hooks")
    def quiet() -> int:
        return one()

    keep = Keep()
    loggers = [logging.getLogger(n) for n in ("prefect.task_runs", "prefect.flow_runs")]
    levels = [logger.level for logger in loggers]  # the test server logs WARNING and up
    for logger in loggers:
        logger.addHandler(keep)
        logger.setLevel(logging.INFO)
    try:
        assert quiet() == 1
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(keep)
            logger.setLevel(level)
    assert any("Running hook 'note'" in line for line in seen)
    assert not [line for line in seen if "threadline_" in line]
    assert tl.Run.filter(transform__key="quiet-hooks/one").count() == 1
