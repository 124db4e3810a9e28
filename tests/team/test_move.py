"""Backing up and moving a team instance as docs/team.md says: dump the database, restore
it into a new database, copy the objects into a new bucket, re-point the storage root;
``threadline check`` then passes and the artifacts load with their lineage."""

import os
import subprocess
import uuid
from pathlib import Path

import boto3

from tests import harness
from tests.team.conftest import THREADLINE, Team


def _pg(team: Team, tool: str, *args: str, data: bytes | None = None) -> bytes:
    """Run a PostgreSQL client tool; stdin and stdout carry the dump (the tool may run
    as the postgres user, who cannot reach the test's folders)."""
    return subprocess.run(
        team.postgres._cmd(
            os.path.join(team.postgres.bindir, tool),
            *("-h", "127.0.0.1", "-p", str(team.postgres.port), "-U", "postgres"),
            *args,
        ),
        input=data,
        check=True,
        capture_output=True,
    ).stdout


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(THREADLINE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_dump_restore_and_new_bucket(team, s3_endpoint, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_HOME"] = str(tmp_path / "home")
    old = team.project_file.parent
    (old / "raw.csv").write_text("sample,reads\nA,1\n")
    assert _cli(["save", "raw.csv", "--key", "team/raw.csv"], old, env).returncode == 0
    (old / "raw.csv").write_text("sample,reads\nA,1\nB,2\n")
    assert _cli(["save", "raw.csv", "--key", "team/raw.csv"], old, env).returncode == 0

    dump = tmp_path / "lineage.dump"
    dump.write_bytes(_pg(team, "pg_dump", "--format=custom", team.database))
    new_db = f"moved{uuid.uuid4().hex[:8]}"
    team.postgres.create_database(new_db)
    _pg(team, "pg_restore", "--no-owner", "-d", new_db, data=dump.read_bytes())

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    harness.make_bucket(s3_endpoint, new_db)
    old_bucket, prefix = team.storage.removeprefix("s3://").split("/", 1)
    for item in s3.list_objects_v2(Bucket=old_bucket)["Contents"]:
        source = {"Bucket": old_bucket, "Key": item["Key"]}
        s3.copy_object(CopySource=source, Bucket=new_db, Key=item["Key"])
    new_root = f"s3://{new_db}/{prefix}"
    team.sql(f"UPDATE storage SET root = '{new_root}' WHERE root = '{team.storage}'", new_db)

    moved = tmp_path / "moved"
    moved.mkdir()
    url = team.postgres.url(new_db)
    assert _cli(["init", "--db", url, "--storage", new_root], moved, env).returncode == 0
    for item in s3.list_objects_v2(Bucket=old_bucket)["Contents"]:  # the old copy is gone
        s3.delete_object(Bucket=old_bucket, Key=item["Key"])
    check = _cli(["check"], moved, env)
    assert check.returncode == 0, check.stdout + check.stderr
    done = _cli(["ls", "team/"], moved, env)
    assert done.returncode == 0 and "team/raw.csv" in done.stdout
    load = subprocess.run(
        [
            str(Path(str(THREADLINE)).with_name("python")),
            "-c",
            "import threadline as tl; a = tl.Artifact.get(key='team/raw.csv'); "
            "print(a.version, a.uri, open(a.cache()).read())",
        ],
        cwd=moved,
        env=env,
        capture_output=True,
        text=True,
    )
    assert load.returncode == 0, load.stderr
    assert load.stdout.startswith(f"2 {new_root}/") and "B,2" in load.stdout
