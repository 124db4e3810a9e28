"""Flows for test_outcomes.py: task runs Prefect never starts, transactions that roll
back, tasks called inside a task."""

import os

from prefect import allow_failure, unmapped
from prefect.transactions import transaction
from threadline.prefect import flow, task


@task
def fails(sample: str) -> str:
    raise RuntimeError(f"no reads for {sample}")


@task
def count(sample: str, reads: str | None = None) -> int:
    return len(sample)


@flow(name="never-started")
def never_started(sample: str) -> str:
    broken = fails.submit(sample)
    count.submit(sample, wait_for=[broken])  # wait_for= a failed future
    waiting = count.submit(sample, broken)  # an argument from a failed future
    count.submit("chained", waiting)  # upstream never started either
    count.map(["m1", "m2"], wait_for=[broken])
    direct = count(sample, wait_for=[broken])  # a direct call: Prefect returns None
    state = count(sample, broken, return_state=True)
    ran = count.submit(sample)  # an independent task still runs
    allowed = count(sample, wait_for=[allow_failure(broken)])  # runs: failure allowed
    return f"{direct} {state.name} {ran.result()} {allowed}"


@task
def write_file(path: str, contents: str) -> str:
    with open(path, "w") as fh:
        fh.write(contents)
    return path


@write_file.on_rollback
def delete_file(txn: object) -> None:
    os.unlink("side-effect.txt")


@task
def quality_test(path: str) -> None:
    with open(path) as fh:
        if len(fh.readlines()) < 2:
            raise ValueError("Not enough data!")


@flow(name="rolled-back")
def rolled_back(contents: str) -> str:
    try:
        with transaction():
            write_file("side-effect.txt", contents)
            quality_test("side-effect.txt")
    except ValueError:
        pass
    with transaction():  # this one commits
        write_file("kept.txt", "a\nb\n")
        quality_test("kept.txt")
    return "done"


@task
def inner(value: int) -> int:
    return value * 2


@task
def outer(value: int) -> int:
    return inner(value) + 1


@flow(name="nested")
def nested(value: int) -> int:
    return outer(value)


@task
async def measure(sample: str) -> int:
    return len(sample)


@flow(name="never-started-async")
async def never_started_async(sample: str) -> str:
    broken = fails.submit(sample)
    direct = await measure(sample, wait_for=[broken])  # awaited directly: None
    state = await measure(sample, wait_for=[broken], return_state=True)
    ran = await measure(sample)
    return f"{direct} {state.name} {ran}"


@task
def add(value: int, by: list[int], label: str = "sum") -> int:
    return value + sum(by)


@flow(name="never-started-map")
def never_started_map() -> list[str]:
    broken = fails.submit("M")
    skipped = add.map([1, 2, 3], unmapped([10, 20]), wait_for=[broken])
    from_future = count.map([broken], reads=unmapped("R1.fq"))  # the item: a failed future
    ran = add.map([4], by=unmapped([5]))  # started: recorded by Prefect's hooks
    for futures in (skipped, from_future, ran):
        futures.wait()
    return [str(f.task_run_id) for f in (*skipped, *from_future, *ran)]


@task
def switch_instance(db: str, storage: str) -> None:
    import threadline as tl

    tl.connect(db=db, storage=storage)  # refused: the flow's runs are open


@flow(name="switching")
def switching(db: str, storage: str) -> str:
    first = count("a")
    state = switch_instance(db, storage, return_state=True)
    return f"{first} {state.name} {count('bb')}"
