"""Flows for failures, retries, concurrency, subflows, async flows and Dask."""

import asyncio
import os
from pathlib import Path

from threadline.prefect import flow, task


@task
def explode(sample: str) -> None:
    raise RuntimeError(f"no reads for {sample}")


@flow(name="failing")
def failing(sample: str = "S9") -> None:
    explode(sample)


@task(retries=2, retry_delay_seconds=0)
def flaky(counter: str) -> int:
    """Fails until it has been called three times (counted in a file)."""
    path = Path(counter)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls < 3:
        raise ValueError(f"attempt {calls} failed")
    return calls


@flow(name="retrying")
def retrying() -> int:
    return flaky("calls.txt")


@task
def square(x: int) -> int:
    return x * x


@task
def add_up(values: list[int]) -> int:
    return sum(values)


@flow(name="fan-out")
def fan_out(n: int = 20) -> tuple[int, int]:
    mapped = square.map(range(n))
    submitted = [square.submit(i) for i in range(n)]
    return add_up(mapped).__int__(), add_up.submit(submitted).result()


@task
def label(name: str) -> str:
    return name.upper()


@flow(name="child")
def child(name: str) -> str:
    return label(name)


@flow(name="parent")
def parent(names: list[str]) -> list[str]:
    return [child(n) for n in names]


@task
async def fetch(sample: str) -> str:
    await asyncio.sleep(0.01)
    return sample.lower()


@flow(name="async-flow")
async def async_flow(samples: list[str]) -> list[str]:
    first = await fetch(samples[0])
    rest = await asyncio.gather(*(fetch(s) for s in samples[1:]))
    return [first, *rest]


@task
def where(i: int) -> tuple[int, int]:
    Path(f"part-{i}.txt").write_text(f"{i}\n")
    return os.getpid(), i


@task
def gather_parts(parts: list[tuple[int, int]]) -> list[int]:
    return sorted({pid for pid, _ in parts})
