"""sockets.py: Prefect's own unclosed socket is real, and the marked test collects it.

The garbage collector is switched off around each flow, so where the socket is closed
depends on the code under test, not on when the collector happens to run."""

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Iterator

import prefect

from tests.plugins.prefect.sockets import prefects_socket_collected


@prefect.task
async def lower(sample: str) -> str:
    await asyncio.sleep(0)
    return sample.lower()


@prefect.flow(name="plain-async")
async def plain_async(samples: list[str]) -> list[str]:
    """Prefect's own decorators only: the leak is Prefect's."""
    return list(await asyncio.gather(*(lower(s) for s in samples)))


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def unclosed_sockets_collected_now() -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gc.collect()
    return [str(w.message) for w in seen if str(w.message).startswith("unclosed <socket")]


def test_prefects_async_flow_leaves_a_socket_open(prefect_api):
    """When this fails, Prefect closes its socket: drop sockets.py and its uses."""
    gc.collect()
    with collector_off():
        assert asyncio.run(plain_async(["S1", "S2"])) == ["s1", "s2"]
        leaked = unclosed_sockets_collected_now()

    assert len(leaked) == 1, leaked


def test_the_socket_is_collected_before_the_marked_code_returns(prefect_api):
    gc.collect()
    with collector_off():
        with prefects_socket_collected():
            assert asyncio.run(plain_async(["S1", "S2"])) == ["s1", "s2"]
        leaked = unclosed_sockets_collected_now()

    assert leaked == []
