"""Step caching overhead: ``python bench/cache.py [--repeat N]``.

Prints, for a step handed 10 small files (the stat cache makes their hashes free once
seen) and an integer:

- the cache lookup alone (``caching.key`` + ``caching.lookup``) on a hit and on a miss
  (the miss also finds the reason: one more query);
- a whole cached call on a hit (key, lookup, a ``cached`` run written, inputs linked) and
  an uncached call of the same body (a run written, inputs linked), for scale;
- a 20-step diamond pipeline (tests/core/test_caching.py's shape, in process): the first
  run against the fully cached re-run.

Medians over ``--repeat`` calls, on a fresh SQLite instance with local storage in a
temporary folder. Timings only: nothing is asserted.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import threadline as tl
from threadline import caching


def median_ms(fn: Callable[[int], Any], repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def lookups(folder: Path, repeat: int) -> dict[str, float]:
    paths = []
    for i in range(10):
        path = folder / f"in-{i}.txt"
        path.write_text(f"input {i}\n" * 20)
        paths.append(path)

    def body(inputs: list[Path], n: int) -> int:
        return n + len(inputs)

    cached = tl.step("bench-cached", cache=True)(body)
    plain = tl.step("bench-plain")(body)
    cached(paths, -1)  # the entry that hits

    def lookup(n: int) -> None:
        key = caching.key(body, {"inputs": paths, "n": n}, transform="bench-cached")
        caching.lookup(key)

    return {
        "lookup, hit": median_ms(lambda i: lookup(-1), repeat),
        "lookup, miss": median_ms(lambda i: lookup(i), repeat),
        "cached call, hit": median_ms(lambda i: cached(paths, -1), repeat),
        "plain call (no cache)": median_ms(lambda i: plain(paths, i), repeat),
    }


def diamond(folder: Path) -> Callable[[], tl.Artifact]:
    def save(name: str, text: str) -> tl.Artifact:
        (folder / f"{name}.txt").write_text(text)
        return tl.Artifact(folder / f"{name}.txt", key=f"bench/{name}.txt").save()

    @tl.step("b-source", cache=True)
    def source(path: Path, name: str) -> tl.Artifact:
        return save(name, path.read_text())

    @tl.step("b-chain", cache=True)
    def chain(prev: tl.Artifact, name: str) -> tl.Artifact:
        return save(name, prev.load() + "|" + name)

    @tl.step("b-join", cache=True)
    def join(a: tl.Artifact, b: tl.Artifact) -> tl.Artifact:
        return save("join", a.load() + "+" + b.load())

    (folder / "a.txt").write_text("A")
    (folder / "b.txt").write_text("B")

    def run() -> tl.Artifact:
        x, y = source(folder / "a.txt", "a"), source(folder / "b.txt", "b")
        for i in range(8):
            x, y = chain(x, f"l{i}"), chain(y, f"r{i}")
        return chain(join(x, y), "final")

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tl.connect(db=f"sqlite:///{root / 'db.sqlite'}", storage=str(root / "storage"))
        (root / "work").mkdir()
        figures = lookups(root / "work", args.repeat)
        run = diamond(root / "work")
        start = time.perf_counter()
        run()
        first = time.perf_counter() - start
        start = time.perf_counter()
        run()
        again = time.perf_counter() - start
        tl.disconnect()
    print(f"{'step with 10 small inputs':<32} {'median ms':>10}")
    for name, value in figures.items():
        print(f"{name:<32} {value:>10.3f}")
    print(f"{'20-step diamond, first run':<32} {first * 1000:>10.1f}")
    print(f"{'20-step diamond, all cached':<32} {again * 1000:>10.1f}")
    print(f"{'speed-up':<32} {first / again:>10.1f}x")


if __name__ == "__main__":
    main()
