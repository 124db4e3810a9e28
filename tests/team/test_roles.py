"""PostgreSQL roles of docs/team.md, for real on the throwaway cluster: a writer role that
owns the tables, and a read-only role that can still list, describe, trace lineage and
export, and gets one clear line (nothing written) when it tries to save."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests import harness
from tests.team.conftest import THREADLINE, Team


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(THREADLINE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def roles(postgres: harness.Postgres, s3_endpoint: str) -> tuple[Team, str, str]:
    """A database owned by a writer role, a reader role with the grants docs/team.md lists."""
    suffix = uuid.uuid4().hex[:8]
    writer, reader, name = f"tl_writer_{suffix}", f"tl_reader_{suffix}", f"roles{suffix}"
    postgres.psql(f"CREATE ROLE {writer} LOGIN")
    postgres.psql(f"CREATE ROLE {reader} LOGIN")
    postgres.psql(f"CREATE DATABASE {name} OWNER {writer}")
    harness.make_bucket(s3_endpoint, name)
    team = Team(postgres.url(name), f"s3://{name}/lineage", Path(), postgres, name)
    for statement in (
        f"GRANT CONNECT ON DATABASE {name} TO {reader}",
        f"GRANT USAGE ON SCHEMA public TO {reader}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {writer} IN SCHEMA public "
        f"GRANT SELECT ON TABLES TO {reader}",
    ):
        team.sql(statement)
    return team, writer, reader


def test_read_only_role_browses_and_exports_but_cannot_write(roles, tmp_path):
    team, writer, reader = roles
    url = team.db.replace("postgres@", "{}@")
    base = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env = {**base, "THREADLINE_HOME": str(tmp_path / "home")}
    writer_dir, reader_dir = tmp_path / "writer", tmp_path / "reader"
    for folder, role in ((writer_dir, writer), (reader_dir, reader)):
        folder.mkdir()
        done = _run(["init", "--db", url.format(writer), "--storage", team.storage], folder, env)
        assert done.returncode == 0, done.stderr
        if role == reader:  # the reader's own toml names its own role
            toml = folder / "threadline.toml"
            toml.write_text(toml.read_text().replace(f"{writer}@", f"{reader}@"))
    (writer_dir / "counts.csv").write_text("sample,reads\nA,1\n")
    done = _run(["save", "counts.csv", "--key", "team/counts.csv"], writer_dir, env)
    assert done.returncode == 0, done.stderr

    for args in (
        ["ls", "team/"],
        ["describe", "team/counts.csv"],
        ["lineage", "team/counts.csv"],
        ["runs"],
        ["export", "openlineage", "-o", "events.jsonl"],
    ):
        done = _run(args, reader_dir, env)
        assert done.returncode == 0, (args, done.stderr)
    assert "team/counts.csv" in _run(["ls", "team/"], reader_dir, env).stdout

    (reader_dir / "other.csv").write_text("sample,reads\nB,2\n")
    refused = _run(["save", "other.csv", "--key", "team/other.csv"], reader_dir, env)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "permission denied" in refused.stderr.lower()
    assert team.sql("SELECT count(*) FROM artifact").strip() == "1"
