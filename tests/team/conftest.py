"""Team mode: one PostgreSQL database and one S3 bucket, used by several "machines".

A machine is a folder with its own ``threadline.toml`` (a copy of the one
``threadline init`` wrote), its own HOME, threadline home and cache folder, and nothing
else in common with the others: credentials come from the environment (AWS_* for the
moto S3 server), as on real hosts. Processes started for it get ``machine.env``.
"""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import harness

THREADLINE = Path(sys.executable).with_name("threadline")
HERE = Path(__file__).resolve().parent


@dataclass
class Team:
    db: str
    storage: str
    project_file: Path
    postgres: harness.Postgres
    database: str

    def sql(self, statement: str, database: str | None = None, user: str = "postgres") -> str:
        """Run SQL with psql in ``database`` (default: the team's) as ``user``."""
        done = subprocess.run(
            self.postgres._cmd(
                os.path.join(self.postgres.bindir, "psql"),
                *("-h", "127.0.0.1", "-p", str(self.postgres.port), "-U", user),
                *("-d", database or self.database, "-qAt", "-v", "ON_ERROR_STOP=1"),
                *("-c", statement),
            ),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def machine(self, base: Path, name: str) -> "Machine":
        folder = base / name
        folder.mkdir(parents=True)
        shutil.copy(self.project_file, folder / "threadline.toml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("THREADLINE_", "PREFECT_"))}
        env.update(
            HOME=str(folder / "home"),
            THREADLINE_HOME=str(folder / "threadline-home"),
            THREADLINE_CACHE_DIR=str(folder / "cache"),
            THREADLINE_STRICT="1",  # an adapter failure fails the process, not just a log line
            PYTHONWARNINGS="ignore",
        )
        return Machine(folder, env)


@dataclass(eq=False)
class Machine:
    folder: Path
    env: dict[str, str]

    def start(self, *command: str, **env: str) -> subprocess.Popen[str]:
        with (self.folder / "output.log").open("w") as log:
            return subprocess.Popen(
                list(command),
                cwd=self.folder,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    @property
    def output(self) -> str:
        return (self.folder / "output.log").read_text()


@pytest.fixture
def team(postgres: harness.Postgres, s3_endpoint: str, tmp_path: Path) -> Iterator[Team]:
    """A fresh database and bucket, and the ``threadline.toml`` that ``threadline init``
    wrote for them in a project folder."""
    name = f"team{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    harness.make_bucket(s3_endpoint, name)
    project = tmp_path / "project"
    project.mkdir()
    db, storage = postgres.url(name), f"s3://{name}/lineage"
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env.update(THREADLINE_HOME=str(tmp_path / "init-home"))
    subprocess.run(
        [str(THREADLINE), "init", "--db", db, "--storage", storage],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    yield Team(db, storage, project / "threadline.toml", postgres, name)


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """The test session's Prefect server (tests/plugins/prefect/server.py)."""
    pytest.importorskip("prefect_dask")
    from tests.plugins.prefect.server import prefect_server

    with prefect_server():
        import prefect.settings

        yield str(prefect.settings.PREFECT_API_URL.value())
