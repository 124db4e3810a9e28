"""No secret in clear: secrets stored through every route, then looked for in every byte.

Each route that takes text from users or engines gets secrets of its own (a marker that
appears nowhere else): ``tl.track(params=...)`` with an argv list and URLs, ``@tl.step``
arguments (a ``["--token", X]`` list, a credentialed URL), ``adapters.start_run`` /
``start_runs`` references, keys, names and params, feature values, an artifact key and
description, errors, and what a Nextflow adapter hands over (a repository URL with a token
as transform key, reference and feature, a history command line). Then the raw SQLite
file (with its WAL), every table dumped as text (the PostgreSQL route), the storage
folder, ``tl.export.openlineage_events()``, ``threadline export openlineage`` and
``threadline runs --json`` are searched for the markers: none may appear.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import threadline as tl
from threadline import adapters

MARKERS = [f"sekrit{n:02d}q7z" for n in range(1, 20)]
GITHUB_TOKEN = "ghp_" + "Z9" * 18  # a GitHub token's shape, known to the redactor


def s(n: int) -> str:
    """Secret number ``n``: a marker that appears nowhere but where it was stored."""
    return MARKERS[n - 1]


def store_secrets_through_every_route(work: Path) -> None:
    tl.track(
        params={
            "argv": ["train.py", "--password", s(1), "--epochs", "3"],
            "db_url": f"postgresql://alice:{s(2)}@db.example:5432/prod",
            "api_token": s(3),
            "mirror": f"https://oauth2:{s(4)}@git.example/org/data",
        },
        key="scripts/train.py",
    )

    @tl.step()
    def fetch(command: list[str], source: str) -> str:
        return source

    fetch(["curl", "--token", s(5), "-o", "x"], f"https://user:{s(6)}@data.example/x")
    tl.finish()

    repository = f"https://oauth2:{s(7)}@gitlab.example/org/pipe"
    pipeline = adapters.get_transform(repository, "pipeline", reference=repository)
    nf_run = adapters.start_run(
        pipeline.key,
        "pipeline",
        transform=pipeline,
        engine="nextflow",
        reference=f"https://{GITHUB_TOKEN}@github.com/org/pipe",
        name=f"run with token={s(8)}",
        params={"cmd": ["nextflow", "run", "--secret", s(9)], "repo": repository},
    )
    adapters.annotate(
        nf_run,
        {
            "command": f"nextflow run https://user:{s(10)}@github.com/org/pipe --api-key {s(11)}",
            "repository": repository,
        },
        create_features=True,
    )
    task = adapters.get_transform("processes/align", "process", source=f"PASSWORD={s(12)}")
    (job,) = adapters.start_runs(
        [{"transform": task, "parent": nf_run, "reference": f"--token {s(13)}", "name": "align"}]
    )
    adapters.update_run(job, params={"argv": ["align", "--api-key", s(14)]})
    out = work / "aligned.txt"
    out.write_text("reads\n")  # the data itself holds no secret
    adapters.register_outputs(
        job,
        [
            adapters.Output(
                str(out),
                key=f"results/token={s(15)}/aligned.txt",
                description=f"made with secret_key={s(16)}",
                features={"source_url": f"https://u:{s(17)}@bucket.example/raw"},
            )
        ],
    )
    adapters.finish_run(job, "errored", error=f"login failed: password={s(18)}")
    adapters.finish_run(nf_run, "completed", traceback=f"GITHUB_TOKEN={s(19)}")


def leaks(text: str | bytes, where: str) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    found = [m for m in [*MARKERS, GITHUB_TOKEN] if m.encode() in data]
    return [f"{where}: {m}" for m in found]


def dumped_tables() -> str:
    """Every row of every table as text (what ``pg_dump --data-only`` would show)."""
    db = tl.Run._meta.database
    lines = []
    for table in db.get_tables():
        for row in db.execute_sql(f'SELECT * FROM "{table}"').fetchall():
            lines.append(f"{table}: {row!r}")
    return "\n".join(lines)


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "threadline", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def raw_database_files() -> list[tuple[str, bytes]]:
    url = tl.instance().settings.db
    if not url.startswith("sqlite"):
        return []
    path = url.split(":///", 1)[1]
    return [(p, Path(p).read_bytes()) for p in (path, f"{path}-wal") if os.path.exists(p)]


def storage_files(root: str) -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for p in Path(root).rglob("*") if p.is_file()]


def test_no_secret_in_clear_anywhere(db_instance, isolated):
    store_secrets_through_every_route(isolated)
    assert tl.Run.filter(engine="nextflow").count() == 1  # everything was stored
    assert tl.Artifact.filter(key__startswith="results/token=").count() == 1

    found: list[str] = []
    for path, data in raw_database_files():
        found += leaks(data, path)
    found += leaks(dumped_tables(), "database tables")
    for path, data in storage_files(tl.instance().settings.storage):
        found += leaks(data, path)
    events: list[dict[str, Any]] = tl.export.openlineage_events()
    assert len(events) >= 8
    found += leaks(json.dumps(events), "tl.export.openlineage_events()")
    found += leaks(cli("export", "openlineage"), "threadline export openlineage")
    runs = cli("runs", "--json")
    assert len(json.loads(runs)) == 4
    found += leaks(runs, "threadline runs --json")
    assert found == []


def test_masked_values_stay_readable(db_instance, isolated):
    """Masking keeps what is not secret: flags, users, hosts, other arguments."""
    store_secrets_through_every_route(isolated)
    script = tl.Run.get(transform__key="scripts/train.py")
    assert script.params["argv"] == ["train.py", "--password", "***", "--epochs", "3"]
    assert script.params["mirror"] == "https://oauth2:***@git.example/org/data"
    nf_run = tl.Run.get(engine="nextflow")
    assert nf_run.transform.key == "https://oauth2:***@gitlab.example/org/pipe"
    assert nf_run.reference == "https://***@github.com/org/pipe"
    assert nf_run.params["cmd"] == ["nextflow", "run", "--secret", "***"]
    assert nf_run.features.get_values()["command"] == (
        "nextflow run https://user:***@github.com/org/pipe --api-key ***"
    )
    output = tl.Artifact.get(key__startswith="results/")
    assert output.key == "results/token=***/aligned.txt"
