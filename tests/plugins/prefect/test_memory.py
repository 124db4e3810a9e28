"""A flow's task runs are freed when the flow ends, without the garbage collector.

Objects in a reference cycle are freed only by a collection, and a process with Prefect
loaded holds so many objects that a full one takes 0.1-0.3 s; each task run kept alive,
or left in a cycle, brings the next one closer. So nothing threadline adds to a task run
may keep its run alive past its flow: no cycle through the run's pending write, and no
run kept for lookups once its flow has ended. (Prefect's own futures are in a cycle
already, plain Prefect's too.)"""

import gc
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
