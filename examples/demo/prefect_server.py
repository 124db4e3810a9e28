"""A throwaway Prefect API server for the demo: started at once, waited for when needed.

Prefect always talks to an API server. The demo starts ``prefect server start`` in the
background with its own ``PREFECT_HOME`` (a fresh SQLite database under the demo folder),
the UI and the background services off (without that, on 2 cores each flow waits while
the server writes the previous flow's events), and waits for ``/api/health`` only when
the flow is about to run, so the server's start overlaps the Nextflow and Snakemake steps.
A server that does not answer within ``timeout`` seconds, or exits, is an error that
shows the end of its log: the demo never hangs on it.

A fresh server spends most of its start-up creating its database (Prefect's migrations).
The first server that answers leaves a copy of its new, empty database in the venv
(``share/threadline-demo/``, one per Prefect version; ``scripts/demo`` makes it right after
installing), and later servers start from a copy of it.
"""

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from importlib import metadata
from pathlib import Path

from threadline.prefect import SERVER_SETTINGS

TEMPLATE = Path(sys.prefix, "share", "threadline-demo", f"prefect-{metadata.version('prefect')}.db")

SETTINGS = SERVER_SETTINGS  # threadline.prefect: UI, services and log shipping off


class PrefectServer:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.environ = {**SETTINGS, "PREFECT_HOME": str(home), "PREFECT_API_URL": self.api_url}
        self.log = home / "server.log"
        self.database = home / "prefect.db"
        if TEMPLATE.is_file():
            shutil.copy(TEMPLATE, self.database)  # already migrated: starts in seconds
        prefect = Path(sys.executable).with_name("prefect")
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env={**os.environ, **self.environ, "PREFECT_API_URL": ""},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait(self, timeout: float = 120.0) -> None:
        """Return once the server answers; raise if it exits or stays silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Prefect server exited: {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        self._keep_template()
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Prefect server did not answer in {timeout:.0f} s: {self._tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _keep_template(self) -> None:
        """Copy the freshly migrated database (SQLite's online backup: consistent while
        the server runs) for the next demo, once; a venv we cannot write to is skipped."""
        if TEMPLATE.is_file() or not self.database.is_file():
            return
        try:
            TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
            partial = TEMPLATE.with_name(f".{TEMPLATE.name}.{os.getpid()}")
            source, copy = sqlite3.connect(self.database), sqlite3.connect(partial)
            with closing(source), closing(copy):
                source.backup(copy)
            partial.replace(TEMPLATE)
        except (OSError, sqlite3.Error):
            return

    def _tail(self) -> str:
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])


if __name__ == "__main__":  # scripts/demo, after installing: make the template now
    with tempfile.TemporaryDirectory() as folder:
        server = PrefectServer(Path(folder))
        try:
            server.wait()
        finally:
            server.stop()
