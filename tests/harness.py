"""Throwaway servers for the test session: a PostgreSQL cluster and an S3 endpoint.

- PostgreSQL: ``initdb`` in a temporary folder with the server binaries of the machine
  (``pg_config --bindir``, else /usr/lib/postgresql/<N>/bin), started on a free port on
  127.0.0.1; as root the server runs as the ``postgres`` user. Stopped at the end.
- S3: moto's ``ThreadedMotoServer`` on a free port on 127.0.0.1, a real HTTP endpoint
  that s3fs talks to exactly as to AWS.
- ``MotoProcess``: moto's server in a subprocess this process controls, for faults caused
  for real: ``kill()`` (SIGKILL: connections refused), ``freeze()``/``thaw()`` (SIGSTOP/
  SIGCONT: connections accepted by the kernel, never answered), ``restart()`` (same port).
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def ctrl_c_as_in_a_terminal() -> None:
    """``preexec_fn`` for a child the test sends SIGINT: Ctrl-C's default action, whatever
    this test process inherited. A suite started in the background by a shell without job
    control inherits SIGINT *ignored*, and so would every child (Python then installs no
    KeyboardInterrupt handler; bash cannot trap a signal ignored on entry)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_alive(group: int, grace_s: float = 10.0) -> bool:
    """Whether a process of process group ``group`` is still alive, as ``/proc`` lists
    them. Zombies (ended, waiting for init to reap them) are not alive, and a process
    still ending gets ``grace_s`` to go: what is left behind for real (a reader blocked
    on a pipe) stays for ever."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = [
            pid for pid, (pgrp, state) in _processes().items() if pgrp == group and state != "Z"
        ]
        if not alive or time.monotonic() > deadline:
            return bool(alive)
        time.sleep(0.1)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (process group, state) of every process ``/proc`` shows."""
    found = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        found[int(text.split(" ", 1)[0])] = (int(fields[2]), fields[0])
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> str | None:
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@dataclass
class Postgres:
    bindir: str
    datadir: str
    port: int
    as_user: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.as_user, "--", *args] if self.as_user else list(args)

    def psql(self, sql: str) -> None:
        subprocess.run(
            self._cmd(
                os.path.join(self.bindir, "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ),
            check=True,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    as_user = "postgres" if os.geteuid() == 0 else None
    datadir = tempfile.mkdtemp(prefix="threadline-pg-")
    if as_user:
        shutil.chown(datadir, user=as_user)
    server = Postgres(bindir, os.path.join(datadir, "data"), free_port(), as_user)
    run = server._cmd
    subprocess.run(
        run(
            os.path.join(bindir, "initdb"),
            "-D",
            server.datadir,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -k {datadir} "
        "-c fsync=off -c max_connections=200"
    )
    subprocess.run(
        run(
            os.path.join(bindir, "pg_ctl"),
            "-D",
            server.datadir,
            "-o",
            options,
            "-l",
            os.path.join(datadir, "log"),
            "-w",
            "-t",
            "60",
            "start",
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield server
    finally:
        subprocess.run(
            run(os.path.join(bindir, "pg_ctl"), "-D", server.datadir, "-m", "immediate", "stop"),
            capture_output=True,
        )
        shutil.rmtree(datadir, ignore_errors=True)


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            break
        time.sleep(0.1)
    try:
        yield endpoint
    finally:
        server.stop()


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class MotoProcess:
    """A moto S3 server in a child process: killed, frozen and restarted for real."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "MotoProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.thaw()
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Kill and start again on the same port (moto keeps nothing: buckets are new)."""
        self.kill()
        self.start()

    def __enter__(self) -> "MotoProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_for_file(
    path: Path, proc: subprocess.Popen[str] | None = None, timeout: float = 300
) -> None:
    """Wait until ``path`` exists (a file a child process or a test hook writes); fail at
    once if ``proc`` ends first. The timeout only catches a hang, it times nothing."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the child ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def assert_sqlite_consistent(url: str) -> None:
    """No row of the SQLite database at ``url`` points at a missing one, and its file is sound."""
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()


def write(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path``, making its folders; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def end_open_runs() -> None:
    """End what a test left open in this process, so that its instance can be closed
    (``tl.disconnect()`` refuses while a run is open) and the next test starts with no
    run: a tracked run is finished as aborted (its variables restored), any other open
    run (an activated or held one) forgotten. A failed test may leave a run open; no
    public call forgets an open run without closing it, so this uses threadline's
    process state."""
    import threadline as tl
    from threadline import _context

    with contextlib.suppress(Exception):  # none tracked, or its database is gone
        tl.finish("aborted", error="the test ended with the run open")
    _context.clear()
