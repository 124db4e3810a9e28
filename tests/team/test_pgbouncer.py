"""threadline through PgBouncer in transaction pooling mode (pool_mode = transaction).

Eight writer processes share a pool of three server connections: PgBouncer hands each
transaction to whichever connection is free, so nothing that lives in a session survives
from one transaction to the next. threadline keeps none: its locks are transaction-scoped
advisory locks (``pg_advisory_xact_lock``) and psycopg2 prepares no statements on the
server. The first writers also create the tables through the pooler (the schema upgrade
runs under the same kind of lock).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import threadline as tl

from tests import harness

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
WRITER = Path(__file__).resolve().parent / "workloads" / "writer.py"


@pytest.fixture
def bouncer(postgres: harness.Postgres) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of the test cluster; yields its URL base."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer not installed (apt-get install pgbouncer)")
    folder = tempfile.mkdtemp(prefix="pgbouncer-")
    port = harness.free_port()
    Path(folder, "users.txt").write_text('"postgres" ""\n')
    Path(folder, "pgbouncer.ini").write_text(
        f"[databases]\n* = host=127.0.0.1 port={postgres.port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder}/users.txt\npool_mode = transaction\n"
        "default_pool_size = 3\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {folder}/pgbouncer.log\n"
    )
    if postgres.as_user:
        shutil.chown(folder, user=postgres.as_user)
    process = subprocess.Popen(
        postgres._cmd(PGBOUNCER, f"{folder}/pgbouncer.ini"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120  # a start on a busy machine, never a measure
        while not _listening(port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        log = Path(folder, "pgbouncer.log")
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        assert _listening(port), f"pgbouncer did not start (exit {process.poll()}): {tail}"
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_concurrent_writers_through_transaction_pooling(postgres, bouncer, tmp_path):
    name = f"pool{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    db, storage = f"{bouncer}/{name}", str(tmp_path / "storage")
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env.update(THREADLINE_DB=db, THREADLINE_STORAGE=storage, THREADLINE_STRICT="1")
    env.update(THREADLINE_HOME=str(tmp_path / "home"), PYTHONWARNINGS="ignore")
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), f"w{i}", "5"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(8)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in writers]
    assert [w.returncode for w in writers] == [0] * 8, outputs

    tl.connect(db=postgres.url(name), storage=storage)  # straight to PostgreSQL to check
    try:
        runs = tl.Run.filter(transform__key="team/writer.py")
        assert runs.count() == 8 and {r.status for r in runs} == {"completed"}
        assert tl.Artifact.filter(key__startswith="writers/").count() == 40
        counter = tl.Artifact.get(key="shared/counter.txt")
        assert sorted(v.version for v in counter.versions) == list(range(1, 9))
        assert sum(v.is_latest for v in counter.versions) == 1
    finally:
        tl.disconnect()
