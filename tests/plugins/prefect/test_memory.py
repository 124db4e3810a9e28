"""A flow's task runs are freed when the flow ends, without the garbage collector.

Objects in a reference cycle are freed only by a collection, and a process with Prefect
loaded holds so many objects that a full one takes 0.1-0.3 s; each task run kept alive,
or left in a cycle, brings the next one closer. So nothing threadline adds to a task run
may keep its run alive past its flow: no cycle through the run's pending write, and no
run kept for lookups once its flow has ended. (Prefect's own futures are in a cycle
already, plain Prefect's too.)"""

import gc
import time
import weakref

import threadline as tl
import threadline.prefect as tlp
from prefect.task_runners import ThreadPoolTaskRunner
from threadline import adapters


@tlp.task
def step(x: int) -> int:
    seen.append(weakref.ref(tl.context.run))
    return x + 1


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def submitted(n: int) -> int:
    futures = [step.submit(i) for i in range(n)]
    return sum(f.result() for f in futures)


@tlp.flow
def looped(n: int) -> int:
    return sum(step(i) for i in range(n))


seen: list[weakref.ref[tl.Run]] = []


def test_a_flows_task_runs_are_freed_when_it_ends_without_a_collection(tracked):
    seen.clear()
    gc.collect()
    gc.disable()  # only reference counts free anything from here on
    try:
        assert submitted(6) == 21
        assert looped(4) == 10
        writer = adapters.writer()
        writer.submit(lambda: None)  # the writer lets go of its last batch
        writer.flush()
        runs = [r() for r in seen]
    finally:
        gc.enable()
    assert len(runs) == 10
    assert runs == [None] * 10  # no run kept by threadline, none in a cycle
    steps = tl.Run.filter(transform__key__in=["submitted/step", "looped/step"]).all()
    assert sorted(r.status for r in steps) == ["completed"] * 10


def _let_writer_go() -> None:
    writer = adapters.writer()
    writer.submit(lambda: None)  # the writer lets go of its last batch
    writer.flush()


@tlp.flow
def still_running(n: int) -> list[object]:
    """Ends ``n`` task runs, waits until their rows are written, ends one more (the
    registry settles what it keeps at a task run's end), collects the garbage and says
    which of the first ``n`` runs are still alive, while the flow still runs."""
    total = sum(step(i) for i in range(n))
    _let_writer_go()
    total += step(n)
    # Prefect holds contexts in which a run was current: in its own cycles (a collection
    # frees them) and in its events worker, which keeps a copy of the context of each
    # event until it has sent it (in the first flow of a process, while it connects):
    # wait for that, up to a minute. A run threadline kept would never be freed.
    deadline = time.monotonic() + 60
    while True:
        gc.collect()
        if all(r() is None for r in seen[:n]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return [r() for r in seen[:n]] + [total]


def test_a_running_flows_written_task_runs_are_not_kept_alive(tracked):
    """While a flow runs, its ended task runs stay known to the task runs after it
    (their edges), but once their rows are written only as their values (an untracked
    dict of plain values), not as run objects with their containers: anything kept
    alive through the flow is moved to the collector's oldest generation by the first
    collection that finds it and brings the next full collection closer."""
    seen.clear()
    assert still_running(5) == [None] * 5 + [sum(range(1, 7))]


@tlp.task
def consume(value: int) -> int:
    return value * 2


@tlp.flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def late_consumer() -> int:
    first = step.submit(1)
    first.result()
    _let_writer_go()
    step.submit(2).result()  # its end settles the first run: kept as its values only
    return consume.submit(first).result()


def test_a_task_run_kept_as_its_values_is_still_linked_upstream(tracked):
    """A task run the registry keeps as its row's values is made a run again when a
    later task run consumes its result: the edge is recorded as before."""
    assert late_consumer() == 4
    (consumer,) = tl.Run.filter(transform__key="late-consumer/consume").all()
    (first,) = tl.Run.filter(transform__key="late-consumer/step", params={"x": 1}).all()
    assert [r.uid for r in consumer.upstream_runs] == [first.uid]
    assert consumer.parent.uid == first.parent.uid
