"""Many writers at once: 16 processes x 25 saves under shared keys, SQLite and PostgreSQL.

Every save must succeed (no "database is locked"), and each key must end with contiguous
versions 1..N, exactly one of them latest, and no duplicate content under a key.
"""

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
import threadline as tl

WORKER = textwrap.dedent("""
    import os, pathlib, sys, time
    import threadline as tl
    worker, go = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    tl.connect()  # open before the start signal so all processes race on the saves
    while not go.exists():
        time.sleep(0.005)
    folder = pathlib.Path(f"w{worker}")
    folder.mkdir(exist_ok=True)
    for i in range(25):
        path = folder / f"f{i}.txt"
        path.write_text(f"worker {worker} item {i}")
        tl.Artifact(path, key=f"shared/k{i % 5}.txt").save()
        if i % 10 == 0:  # also re-save identical content: must be a no-op
            tl.Artifact(path, key=f"shared/k{i % 5}.txt").save()
    print("ok")
""")


@pytest.mark.slow
def test_sixteen_processes_save_under_shared_keys(db_instance, isolated):
    script = isolated / "worker.py"
    script.write_text(WORKER)
    go = isolated / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(n), str(go)],
            cwd=isolated,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(16)
    ]
    time.sleep(1.0)
    go.write_text("go")
    results = [p.communicate(timeout=300) for p in procs]
    errors = [err for (out, err), p in zip(results, procs, strict=True) if p.returncode != 0]
    assert errors == []
    assert all(out.strip() == "ok" for out, _ in results)

    rows = list(tl.Artifact.filter(key__startswith="shared/"))
    assert len(rows) == 400
    by_key: dict[str, list] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    assert sorted(by_key) == [f"shared/k{i}.txt" for i in range(5)]
    for key, versions in by_key.items():
        numbers = sorted(v.version for v in versions)
        assert numbers == list(range(1, 81)), key
        assert sum(v.is_latest for v in versions) == 1
        assert max(versions, key=lambda v: v.version).is_latest
        assert max(Counter(v.hash for v in versions).values()) == 1


def test_threads_save_concurrently(db_instance, isolated):
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i in range(40):
        path = isolated / f"t{i}.txt"
        path.write_text(f"thread item {i}")
        paths.append(path)

    def save(i: int) -> int:
        return tl.Artifact(paths[i], key=f"threads/k{i % 4}.txt").save().version

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(save, range(40)))
    for k in range(4):
        versions = sorted(a.version for a in tl.Artifact.filter(key=f"threads/k{k}.txt"))
        assert versions == list(range(1, 11))


def test_sqlite_is_in_wal_mode(local_instance):
    db = tl.instance().db
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 60000
