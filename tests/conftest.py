"""Shared fixtures: one instance per test on each backend, real servers for the session.

``instance`` runs a test three times: SQLite + local folder, SQLite + S3 (moto server),
PostgreSQL + S3. ``local_instance`` is the embedded default alone, for tests that are
about Python behaviour rather than storage or database.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness

BACKENDS = ("sqlite-local", "sqlite-s3", "postgres-s3")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with harness.s3_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield endpoint
        os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[harness.Postgres]:
    if harness.postgres_bindir() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    with harness.postgres_server() as server:
        yield server


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory and home: no project file, no env instance."""
    for name in ("THREADLINE_DB", "THREADLINE_STORAGE", "THREADLINE_PARENT_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("THREADLINE_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _settings(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    name = f"t{uuid.uuid4().hex[:12]}"
    if kind.startswith("sqlite"):
        db = f"sqlite:///{tmp_path / 'db' / 'threadline.db'}"
    else:
        db = request.getfixturevalue("postgres").create_database(name)
    if kind.endswith("s3"):
        endpoint = request.getfixturevalue("s3_endpoint")
        harness.make_bucket(endpoint, name)
        storage = f"s3://{name}/data"
    else:
        storage = str(tmp_path / "storage")
    return db, storage


def _connect(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    import threadline as tl

    db, storage = _settings(kind, tmp_path, request)
    monkeypatch.setenv("THREADLINE_DB", db)
    monkeypatch.setenv("THREADLINE_STORAGE", storage)
    inst = tl.connect()
    yield inst
    harness.end_open_runs()  # a failed test may leave one: disconnect would refuse
    tl.disconnect()


@pytest.fixture(params=BACKENDS)
def instance(
    request: pytest.FixtureRequest, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """The active instance, on each backend in turn."""
    yield from _connect(request.param, tmp_path, request, monkeypatch)


@pytest.fixture(params=("sqlite", "postgres"))
def db_instance(
    request: pytest.FixtureRequest, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """SQLite and PostgreSQL, each with local storage: for database behaviour."""
    kind = "sqlite-local" if request.param == "sqlite" else "postgres-local"
    yield from _connect(kind, tmp_path, request, monkeypatch)


@pytest.fixture
def local_instance(
    request: pytest.FixtureRequest, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    yield from _connect("sqlite-local", tmp_path, request, monkeypatch)
