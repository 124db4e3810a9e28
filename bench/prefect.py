"""Prefect adapter benchmark: a 200-task flow with Prefect's decorators and threadline's.

    python bench/prefect.py [--tasks N] [--rounds 3] [--mode seq|submit|map|gather]
                            [--threads] [--collect] [--control] [--tree FOLDER]

Starts one Prefect API server (the test suite's harness and settings, see
tests/plugins/prefect/server.py) and a fresh embedded threadline instance in a temporary
folder, then runs the same flow body (``--tasks`` calls of a trivial task) decorated
with ``prefect.flow``/``prefect.task`` and with ``threadline.prefect.flow``/``task``,
in pairs, ``--rounds`` pairs after one warm-up run of each (which side of a pair goes
first is drawn at random, seeded: see ``--order``). Prints, for the whole flow call, for
the tasks alone (timed inside the flow body: the end of a synchronous flow joins Prefect's flow-run
heartbeat thread, which sleeps in steps of one second, so whole-flow times come in steps
of a second, which hides small differences) and for the process's CPU time during
the flow call, the median of each side and threadline's overhead per task in
milliseconds; the ratio threadline / plain of each pair, as their median and their range
(steadier than the ratio of the two medians, also printed, as both flows of a pair run
side by side); and the garbage collector's time in each flow call (a full collection,
0.1-0.3 s with Prefect loaded, comes every two or three flows and lands in one flow or
another: its mean per task over all flows of a side says which side brings them on
more often) and the tasks alone and the whole flow with the collector's time in them
taken out (steadier; the measure of the target stays the tasks alone, collector
included), how many full collections each side's timed flows had, the process's
voluntary context switches per flow (each statement of threadline's writer thread hands
the GIL to Prefect's threads and back), with the load average. Nothing here asserts.

Modes (``--tasks`` defaults to 200 for the first two, 111 for Prefect's concurrent examples):
``seq`` calls the task in a loop, ``submit`` ``.submit()``s each and waits for all,
``map`` is ``task.map(range(n))`` on a ``ThreadPoolTaskRunner`` (Prefect's thread-pool
example) and ``gather`` an async flow awaiting ``asyncio.gather`` of ``n`` calls of an
async task (Prefect's async example).

``--order`` (``random``, the default, with ``--seed``, a new one each run unless given; or
``alternate``): a full collection (0.1-0.3 s) comes every few flows, about every fourth
flow here. With the pairs' order alternating (plain, threadline, threadline, plain...),
one that comes every fourth flow lands on the same side every time and decides the ratio;
in an order drawn at random it lands on either side alike (with one seed for every run,
it would land the same way in every run). ``--collect`` runs a full collection before
every timed flow instead, so that none lands inside one: steadier ratios, at the price of
not showing how often each side's garbage brings on a full collection (see the counts
without it).

``--control`` adds a third side: a copy of the plain flow (the same Prefect task, a flow of
its own name), each round's three flows in an order drawn for the round, and prints its
ratios to plain Prefect beside threadline's: what the same comparison gives when both
sides do the same work, that is, how finely a series can tell two ratios apart.

``--threads`` measures threadline's own CPU per task run instead, by thread: its task
hooks on the task threads and the background writer's thread (thread CPU time). ``--tree
FOLDER`` imports threadline from FOLDER (another commit's ``core/threadline`` copied as
``FOLDER/threadline``, with ``plugins/prefect`` as ``FOLDER/threadline/prefect`` and its
``tests``), so one script measures both sides of a before/after.
"""

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if "--tree" in sys.argv[:-1]:  # another tree's threadline (a copy of a commit, as the package)
    ROOT = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
# this file is named prefect.py: its folder must not shadow the prefect package
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]


def make_flows(n: int, mode: str) -> dict[str, Callable[[], Any]]:
    """The flows of each side: plain Prefect, its copy (``--control``) and threadline's."""
    import prefect
    import threadline.prefect as tlp

    if mode == "gather":
        return _async_flows(n, prefect, tlp)

    def body(step: Any) -> tuple[float, float]:
        """Run the tasks; returns how long they took, inside the flow run, and the garbage
        collector's share of that."""
        started, collected = time.perf_counter(), collecting[1]
        if mode == "submit":
            sum(f.result() for f in [step.submit(i) for i in range(n)])
        elif mode == "map":
            sum(step.map(range(n)).result())
        else:
            sum(step(i) for i in range(n))
        return time.perf_counter() - started, collecting[1] - collected

    def inc(x: int) -> int:
        return x + 1

    options: dict[str, Any] = {}
    if mode == "map":
        from prefect.task_runners import ThreadPoolTaskRunner

        options["task_runner"] = ThreadPoolTaskRunner()
    plain_step = prefect.task(inc, name="inc")
    tracked_step = tlp.task(inc, name="inc")
    return {
        "plain": prefect.flow(lambda: body(plain_step), name="bench-plain", **options),
        "control": prefect.flow(lambda: body(plain_step), name="bench-control", **options),
        "threadline": tlp.flow(lambda: body(tracked_step), name="bench-threadline", **options),
    }


def _async_flows(n: int, prefect: Any, tlp: Any) -> dict[str, Callable[[], Any]]:
    """An async flow awaiting ``asyncio.gather`` of ``n`` async task calls."""
    import asyncio

    async def inc(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    def make(decorate_flow: Any, step: Any, name: str) -> Callable[[], Any]:
        async def body() -> tuple[float, float]:
            started, collected = time.perf_counter(), collecting[1]
            sum(await asyncio.gather(*[step(i) for i in range(n)]))
            return time.perf_counter() - started, collecting[1] - collected

        tracked = decorate_flow(body, name=name)
        return lambda: asyncio.run(tracked())

    plain_step = prefect.task(inc, name="inc")
    return {
        "plain": make(prefect.flow, plain_step, "bench-plain"),
        "control": make(prefect.flow, plain_step, "bench-control"),
        "threadline": make(tlp.flow, tlp.task(inc, name="inc"), "bench-threadline"),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, ...]:
    """(the whole flow call, the tasks alone, the process's CPU time in the call, the
    garbage collector's time in the call, the tasks alone less the collector's time in
    them, the whole flow less the collector's time) in seconds, and the number of full
    collections in the call: CPU time, summed over every thread, is steadier than wall time on a
    busy machine; a full collection (every object of the process: 0.1-0.3 s with Prefect
    loaded) comes every two or three flows and lands on one side of a pair or the other."""
    collecting[:] = [0.0, 0.0, 0]
    switches = _switches()
    started, cpu = time.perf_counter(), time.process_time()
    tasks, collected = fn()
    whole, spent = time.perf_counter() - started, time.process_time() - cpu
    gc_time, full = collecting[1], collecting[2]
    switched = _switches() - switches
    return whole, tasks, spent, gc_time, tasks - collected, whole - gc_time, full, switched


def orders(args: argparse.Namespace) -> list[list[str]]:
    """The sides' order in each round. A pair: which goes first is drawn (seeded; as many
    of each as can be) or taken in turn. With ``--control`` a round is three flows, in an
    order drawn for each round."""
    import random

    draw = random.Random(args.seed)
    if args.control:
        rounds = [["plain", "control", "threadline"] for _ in range(args.rounds)]
        for order in rounds:
            draw.shuffle(order)
        return rounds
    firsts = ["plain", "threadline"] * (args.rounds // 2) + ["plain"] * (args.rounds % 2)
    if args.order == "random":
        draw.shuffle(firsts)
    return [["plain", "threadline"] if f == "plain" else ["threadline", "plain"] for f in firsts]


def settle() -> None:
    """Wait, untimed, for what a flow run left in the background (threadline's markdown
    artifact is sent after the flow call returns), so that it does not land in the next
    flow's time, which may be plain Prefect's."""
    try:
        from threadline.prefect import _report
    except ImportError:
        return
    if hasattr(_report, "wait"):  # trees before it sent the markdown in the flow call
        _report.wait()


def _switches() -> int:
    """The process's voluntary context switches so far: a thread that waits for the GIL,
    a lock or I/O gives up its core. Each statement threadline's writer thread runs hands
    the GIL to the engine's threads and back, so this counts what its batches cost them."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


# (when the running collection started, seconds collected so far, full collections)
collecting: list[Any] = [0.0, 0.0, 0]


def _collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        collecting[0] = time.perf_counter()
    else:
        collecting[1] += time.perf_counter() - collecting[0]
        collecting[2] += info["generation"] == 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=("seq", "submit", "map", "gather"), default="seq")
    parser.add_argument("--threads", action="store_true", help="threadline's CPU by thread")
    parser.add_argument("--tree", help="measure the threadline of this folder instead")
    parser.add_argument("--collect", action="store_true", help="collect before every flow")
    parser.add_argument("--order", choices=("random", "alternate"), default="random")
    parser.add_argument("--seed", type=int, help="for --order random (default: a new one)")
    parser.add_argument("--control", action="store_true", help="a copy of the plain flow too")
    args = parser.parse_args()
    if args.seed is None:  # printed: a series can be run again in the same order
        args.seed = int.from_bytes(os.urandom(2), "big")
    args.tasks = args.tasks or (111 if args.mode in ("map", "gather") else 200)
    from tests.plugins.prefect.server import prefect_server

    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as folder:
        os.environ["THREADLINE_DB"] = f"sqlite:///{folder}/db/threadline.db"
        os.environ["THREADLINE_STORAGE"] = f"{folder}/storage"
        os.chdir(folder)
        import threadline as tl

        tl.connect()
        gc.callbacks.append(_collection)
        with prefect_server():
            if args.threads:
                return by_thread(args)
            flows = make_flows(args.tasks, args.mode)
            for fn in flows.values():  # warm-up: imports, first transform
                timed(fn)
            settle()
            times: dict[str, list[tuple[float, ...]]] = {key: [] for key in flows}
            # rounds in a drawn order: a drift of the machine's load or of the server's
            # state, and a collection that comes every few flows, meet every side alike
            for order in orders(args):
                for key in order:
                    if args.collect:
                        gc.collect()
                    times[key].append(timed(flows[key]))
                    settle()
        runs = tl.Run.filter(transform__key="bench-threadline/inc").count()
        tl.disconnect()
    report(args, times, runs)


def by_thread(args: argparse.Namespace) -> None:
    """threadline's own CPU per task run, by thread: its task hooks on the task threads
    (thread CPU time, and their wall time) and the background writer's thread, over
    ``--rounds`` flows after a warm-up (steadier than the ratios on a busy machine)."""
    import threading

    import threadline as tl
    from threadline import adapters
    from threadline.prefect import _hooks

    spent, lock, original = [0.0, 0.0], threading.Lock(), _hooks.Hook.__call__

    def hook(self: Any, owner: Any, run: Any, state: Any) -> None:
        if self.kind != "task":
            return original(self, owner, run, state)
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return original(self, owner, run, state)
        finally:
            with lock:
                spent[0] += time.thread_time() - cpu
                spent[1] += time.perf_counter() - wall

    _hooks.Hook.__call__ = hook
    tracked = make_flows(args.tasks, args.mode)["threadline"]
    tracked()  # warm-up: imports, first transform, the writer thread started
    writer = adapters.writer()
    before, spent[:] = _thread_cpu(writer), [0.0, 0.0]
    for _ in range(args.rounds):
        tracked()
    writer_cpu = _thread_cpu(writer) - before
    runs = args.rounds * args.tasks
    assert tl.Run.filter(transform__key="bench-threadline/inc").count() == runs + args.tasks
    print(
        f"{args.tasks} tasks ({args.mode}), {args.rounds} flows, {ROOT}; load average "
        f"{os.getloadavg()[0]:.2f}\nper task run: task hooks {spent[0] / runs * 1e3:.3f} ms CPU "
        f"({spent[1] / runs * 1e3:.3f} ms wall), writer thread {writer_cpu / runs * 1e3:.3f} "
        f"ms CPU, together {(spent[0] + writer_cpu) / runs * 1e3:.3f} ms CPU"
    )


def _thread_cpu(writer: Any) -> float:
    thread = writer._thread
    if thread is None or thread.ident is None:
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _ratios(base: list[float], other: list[float]) -> str:
    """The ratios other / base of the flows run side by side, as their median and range."""
    ratios = sorted(b / a for a, b in zip(base, other, strict=True))
    return (
        f"median of the pairs {statistics.median(ratios):.3f}x (pairs {ratios[0]:.3f}x to "
        f"{ratios[-1]:.3f}x; ratio of the medians "
        f"{statistics.median(other) / statistics.median(base):.3f}x)"
    )


def report(args: argparse.Namespace, times: dict[str, list[tuple[float, ...]]], runs: int) -> None:
    collected = "; a full collection before each" if args.collect else ""
    if args.control:
        order = f"plain, its copy and threadline in an order drawn with seed {args.seed}"
    elif args.order == "alternate":
        order = "plain and threadline flows in turn, which goes first alternating"
    else:
        order = f"plain and threadline flows in turn, which goes first drawn with seed {args.seed}"
    print(
        f"{args.tasks} tasks ({args.mode}), {args.rounds} rounds ({order}{collected}); "
        f"{runs} task runs recorded; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    labels = (
        (0, "whole flow"),
        (1, "tasks only"),
        (2, "CPU, whole flow"),
        (3, "of which GC"),
        (4, "tasks only, GC taken out"),
        (5, "whole flow, GC taken out"),
    )
    for index, label in labels:
        plain, tracked = ([t[index] for t in times[k]] for k in ("plain", "threadline"))
        print(
            f"{label}: plain prefect {statistics.median(plain):.3f} s, threadline.prefect "
            f"{statistics.median(tracked):.3f} s, overhead per task "
            f"{(statistics.median(tracked) - statistics.median(plain)) / args.tasks * 1e3:.2f} ms"
        )
        if index == 3:  # full collections land on one side or the other: all of them
            per_task = [sum(t) / len(t) / args.tasks * 1e3 for t in (plain, tracked)]
            print(f"  mean per task: plain {per_task[0]:.3f} ms, threadline {per_task[1]:.3f} ms")
        else:  # per pair: the ratio of the two flows run side by side
            print(f"  ratio: {_ratios(plain, tracked)}")
            if times["control"]:  # what the same comparison gives for plain against plain
                control = [t[index] for t in times["control"]]
                print(f"  control (plain's copy / plain): {_ratios(plain, control)}")
        for key in ("plain", "control", "threadline"):
            if times[key]:
                print(f"  {key:<10} {[round(t[index], 3) for t in times[key]]}")
    switched = [statistics.median(t[7] for t in times[k]) for k in ("plain", "threadline")]
    print(
        f"voluntary context switches per flow (median): plain {switched[0]:.0f}, threadline "
        f"{switched[1]:.0f} ({(switched[1] - switched[0]) / args.tasks:+.1f} a task)"
    )
    full = [sum(t[6] for t in times[k]) for k in ("plain", "threadline")]
    print(
        f"full collections (generation 2) in the timed flows: plain {full[0]}, threadline "
        f"{full[1]}, of {args.rounds} flows each; per flow "
        f"{[t[6] for t in times['plain']]} / {[t[6] for t in times['threadline']]}"
    )


if __name__ == "__main__":
    main()
