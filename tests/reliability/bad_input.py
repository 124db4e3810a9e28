"""The bad-input corpus: each case is an input threadline must refuse with one clear line
(an exception message, or CLI exit 1 with one ``error:`` line), writing nothing.

Shared by tests/reliability/test_bad_input.py and bench/reliability.py. A case's
``setup(work)`` builds what the input needs (before the "nothing written" snapshot);
``act(ctx)`` feeds it to threadline.
"""

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import threadline as tl


@dataclass(frozen=True)
class Case:
    id: str
    area: str  # whose code answers: keys, paths, storage, config, db, cli, features, api
    act: Callable[[Any], Any]
    setup: Callable[[Path], Any] = lambda work: work
    cli: bool = False  # act returns a click Result instead of raising


def _save(path: Any, **fields: Any) -> Callable[[Path], Any]:
    return lambda work: tl.Artifact(path(work) if callable(path) else path, **fields).save()


def _file(work: Path, name: str = "ok.txt", text: str = "fine") -> Path:
    path = work / name
    path.write_text(text)
    return path


def _key_case(name: str, key: Any) -> Case:
    return Case(f"key-{name}", "keys", lambda path: tl.Artifact(path, key=key).save(), _file)


KEYS = [
    ("empty", ""),
    ("absolute", "/etc/passwd"),
    ("double-slash", "a//b"),
    ("trailing-slash", "a/"),
    ("dotdot", "../x"),
    ("inner-dotdot", "a/../b"),
    ("dot", "./a"),
    ("inner-dot", "a/./b"),
    ("nul", "a\x00b"),
    ("newline", "a\nb"),
    ("tab", "a\tb"),
    ("carriage-return", "a\rb"),
    ("escape-char", "a\x1bb"),
    ("delete-char", "a\x7fb"),
    ("c1-next-line", "a\x85b"),  # NEL: a line break for str.splitlines() and terminals
    ("c1-csi", "a\x9b2Jb"),  # a one-byte terminal escape
    ("line-separator", "a\u2028b"),
    ("paragraph-separator", "a\u2029b"),
    ("bidi-override", "data/\u202etxt.exe"),  # shown reversed by ls and terminals
    ("bidi-isolate", "a\u2066b"),
    ("at-version", "a@3"),
    ("at-anywhere", "me@host/data.csv"),
    ("too-long", "k" * 1025),
    ("backslash", "a\\b"),
    ("windows-drive", "C:x"),
    ("not-a-string", 123),
    ("bytes", b"raw/key"),
]


def _fifo(work: Path) -> Path:
    path = work / "pipe"
    os.mkfifo(path)
    return path


def _socket(work: Path) -> Path:
    path = work / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))  # the socket file stays after close
    return path


def _folder_with(work: Path, special: Callable[[Path], Path]) -> Path:
    folder = work / "folder"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    special(folder)
    return folder


def _dev_link(folder: Path) -> Path:
    link = folder / "zero"
    link.symlink_to("/dev/zero")
    return link


PATHS = [
    Case("path-missing", "paths", _save(lambda w: w / "nope.txt", key="x")),
    Case("path-fifo", "paths", lambda ctx: tl.Artifact(ctx, key="p").save(), _fifo),
    Case("path-dev-zero", "paths", _save("/dev/zero", key="z")),
    Case("path-dev-null", "paths", _save("/dev/null", key="n")),
    Case("path-socket", "paths", lambda ctx: tl.Artifact(ctx, key="s").save(), _socket),
    Case(
        "path-folder-with-fifo",
        "paths",
        lambda ctx: tl.Artifact(ctx, key="f").save(),
        lambda w: _folder_with(w, _fifo),
    ),
    Case(
        "path-folder-with-device-link",
        "paths",
        lambda ctx: tl.Artifact(ctx, key="f").save(),
        lambda w: _folder_with(w, _dev_link),
    ),
    Case("path-nul", "paths", _save("a\x00b", key="n")),
    Case("path-file-url-missing", "paths", _save("file:///no/such/file.txt", key="u")),
    Case("path-remote-elsewhere", "paths", _save("s3://elsewhere/x.txt", key="r")),
    Case(
        "path-broken-symlink",
        "paths",
        lambda ctx: tl.Artifact(ctx, key="b").save(),
        lambda w: (w / "dangling").symlink_to(w / "gone") or w / "dangling",
    ),
    Case("nothing-to-save", "api", lambda work: tl.Artifact(None, key="x").save()),
]

SUFFIXES = [
    ("traversal", "/../../x"),
    ("slash", "/x"),
    ("no-dot", "x"),
    ("inner-slash", ".a/b"),
    ("dotdot", ".."),
    ("nul", ".a\x00"),
    ("newline", ".a\nb"),
    ("too-long", "." + "a" * 80),
]


def _suffix_case(name: str, suffix: str) -> Case:
    return Case(
        f"suffix-{name}",
        "storage",
        lambda path: tl.Artifact(path, key="k", suffix=suffix).save(),
        _file,
    )


def _connect(db: Any, storage: Any = None, create: bool = True) -> Callable[[Any], Any]:
    def act(work: Path) -> Any:
        return tl.connect(
            db=db(work) if callable(db) else db,
            storage=(storage(work) if callable(storage) else storage) or str(work / "st"),
            create=create,
        )

    return act


def _corrupt(work: Path) -> str:
    path = work / "corrupt.db"
    path.write_bytes(b"this is not an SQLite file, just bytes " * 100)
    return f"sqlite:///{path}"


def _project(text: bytes) -> Callable[[Path], Path]:
    def setup(work: Path) -> Path:
        sub = work / "proj"
        sub.mkdir()
        (sub / "threadline.toml").write_bytes(text)
        return sub

    return setup


def _resolve_in(folder: Path) -> Any:
    """Resolve from ``folder`` with no instance in the environment: the file decides."""
    old = os.getcwd()
    env = {k: os.environ.pop(k, None) for k in ("THREADLINE_DB", "THREADLINE_STORAGE")}
    os.chdir(folder)
    try:
        return tl._config.resolve()
    finally:
        os.chdir(old)
        os.environ.update({k: v for k, v in env.items() if v is not None})


def _toml_case(name: str, text: bytes) -> Case:
    return Case(f"toml-{name}", "config", _resolve_in, _project(text))


GOOD = b'storage = "st"\ndb = "sqlite:///x.db"\n'
TOML = [
    ("not-utf8", b'storage = "caf\xe9"\ndb = "sqlite:///x.db"\n'),
    ("invalid", b"storage = \n"),
    ("no-db", b'storage = "st"\n'),
    ("no-storage", b'db = "sqlite:///x.db"\n'),
    ("storage-not-string", b'storage = 5\ndb = "sqlite:///x.db"\n'),
    ("db-unsupported", b'storage = "st"\ndb = "mysql://h/db"\n'),
    ("s3-not-table", GOOD + b"s3 = 5\n"),
    ("s3-unknown", GOOD + b"[s3]\ntimeout = 5\n"),
    ("s3-timeout-text", GOOD + b'[s3]\nread_timeout = "soon"\n'),
    ("s3-timeout-zero", GOOD + b"[s3]\nread_timeout = 0\n"),
    ("s3-timeout-negative", GOOD + b"[s3]\nconnect_timeout = -1\n"),
    ("s3-retries-negative", GOOD + b"[s3]\nretries = -1\n"),
    ("s3-retries-huge", GOOD + b"[s3]\nretries = 1000\n"),
    ("s3-retries-bool", GOOD + b"[s3]\nretries = true\n"),
    ("storage-bad-scheme", b'storage = "ftp://h/x"\ndb = "sqlite:///x.db"\n'),
    ("openlineage-not-http", GOOD + b'openlineage_url = "ftp://h/x"\n'),
    ("openlineage-not-string", GOOD + b"openlineage_url = 5\n"),
]


def _env_case(name: str, env: dict[str, str]) -> Case:
    def act(work: Path) -> Any:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return tl._config.resolve()
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)

    return Case(f"env-{name}", "config", act)


def _unbound_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/db"


DB = [
    Case("db-missing-dir", "db", _connect("sqlite:////no/such/dir/x.db", create=False)),
    Case("db-missing-file", "db", _connect(lambda w: f"sqlite:///{w}/typo.db", create=False)),
    Case("db-corrupt", "db", lambda ctx: _connect(ctx)(Path(ctx[10:]).parent), _corrupt),
    Case(
        "db-under-a-file",
        "db",
        _connect(lambda w: f"sqlite:///{w}/ok.txt/sub/x.db"),
        lambda w: _file(w).parent,
    ),
    Case("db-is-a-folder", "db", _connect(lambda w: f"sqlite:///{w}")),
    Case("db-unsupported", "db", _connect("mysql://h/db")),
    Case("db-relative-scheme", "db", _connect("sqlite://x.db")),
    Case("db-pg-no-name", "db", _connect("postgresql://u@127.0.0.1:5432/")),
    Case("db-pg-bad-port", "db", _connect("postgresql://u@127.0.0.1:99999/db")),
    Case("db-pg-unreachable", "db", _connect(lambda w: _unbound_port_url())),
    Case("db-nul", "db", _connect("sqlite:////tmp/a\x00b.db")),
    Case(
        "storage-under-a-file",
        "storage",
        _connect(lambda w: f"sqlite:///{w}/new.db", lambda w: f"{w}/ok.txt/root"),
        lambda w: _file(w).parent,
    ),
    Case("storage-empty", "storage", _connect(lambda w: f"sqlite:///{w}/n.db", " ")),
    Case("storage-no-bucket", "storage", _connect(lambda w: f"sqlite:///{w}/n.db", "s3://")),
    Case("storage-bad-scheme", "storage", _connect(lambda w: f"sqlite:///{w}/n.db", "ftp://h/x")),
    Case("storage-nul", "storage", _connect(lambda w: f"sqlite:///{w}/n.db", "/tmp/a\x00b")),
    Case("storage-surrogate", "storage", _connect(lambda w: f"sqlite:///{w}/n.db", "/tmp/\udcff")),
]

ENV = [
    ("db-without-storage", {"THREADLINE_DB": "sqlite:////tmp/x.db", "THREADLINE_STORAGE": ""}),
    ("s3-read-timeout-text", {"THREADLINE_S3_READ_TIMEOUT": "fast"}),
    ("s3-retries-text", {"THREADLINE_S3_RETRIES": "many"}),
    ("s3-connect-timeout-inf", {"THREADLINE_S3_CONNECT_TIMEOUT": "inf"}),
    ("s3-connect-timeout-nan", {"THREADLINE_S3_CONNECT_TIMEOUT": "nan"}),
    ("openlineage-no-scheme", {"THREADLINE_OPENLINEAGE_URL": "localhost:5000"}),
]


def _feature_cases() -> list[Case]:
    def saved(work: Path) -> Any:
        return tl.Artifact(_file(work, "feat.txt", "features"), key="feat.txt").save()

    def typed(work: Path) -> Any:
        a = saved(work)
        tl.Feature(name="n_cells", dtype=int).save()
        return a

    return [
        Case("feature-unknown", "features", lambda a: a.features.add_values({"nope": 1}), saved),
        Case(
            "feature-wrong-type",
            "features",
            lambda a: a.features.add_values({"n_cells": "many"}),
            typed,
        ),
        Case(
            "feature-bad-dtype",
            "features",
            lambda w: tl.Feature(name="x", dtype="no-such-dtype").save(),
        ),
        Case("feature-empty-name", "features", lambda w: tl.Feature(name="", dtype=str).save()),
        Case("label-empty-name", "features", lambda w: tl.Label(name="").save()),
        Case("get-none", "api", lambda w: tl.Artifact.get(key="no/such/key")),
        Case(
            "get-several",
            "api",
            lambda a: tl.Artifact.get(suffix=".txt"),
            lambda w: [
                tl.Artifact(_file(w, f"{i}.txt", str(i)), key=f"{i}.txt").save() for i in range(2)
            ],
        ),
        Case("open-for-writing", "api", lambda a: a.open("w"), saved),
        Case("loader-without-dot", "api", lambda w: tl.register_loader("csv", str)),
        Case(
            "dataframe-not-a-frame",
            "api",
            lambda w: tl.Artifact.from_dataframe({"a": [1]}, key="t.parquet"),
        ),
    ]


def _cli(*args: str) -> Callable[[Any], Any]:
    def act(work: Path) -> Any:
        from click.testing import CliRunner
        from threadline.cli import main

        return CliRunner().invoke(main, list(args), prog_name="threadline")

    return act


CLI = [
    Case("cli-save-missing", "cli", _cli("save", "/no/such/file.txt"), cli=True),
    Case("cli-save-dev-zero", "cli", _cli("save", "/dev/zero", "--key", "z"), cli=True),
    Case("cli-save-at-key", "cli", _cli("save", "/etc/hostname", "--key", "a@3"), cli=True),
    Case("cli-save-newline-key", "cli", _cli("save", "/etc/hostname", "--key", "a\nb"), cli=True),
    Case("cli-load-unknown", "cli", _cli("load", "no/such/key"), cli=True),
    Case("cli-load-bad-version", "cli", _cli("load", "no/such@x"), cli=True),
    Case("cli-describe-unknown", "cli", _cli("describe", "nothing"), cli=True),
    Case("cli-delete-unknown", "cli", _cli("delete", "nothing"), cli=True),
    Case("cli-restore-unknown", "cli", _cli("restore", "nothing"), cli=True),
    Case("cli-lineage-unknown", "cli", _cli("lineage", "nothing"), cli=True),
    Case(
        "cli-typo-db",
        "cli",
        _cli("--db", "sqlite:////no/such/dir/x.db", "--storage", "/tmp/tl-typo", "ls"),
        cli=True,
    ),
    Case("cli-corrupt-db", "cli", lambda ctx: _cli("--db", ctx, "ls")(None), _corrupt, cli=True),
    Case("cli-view-unknown", "cli", _cli("view", "nothing"), cli=True),
    Case("cli-runs-unknown-parent", "cli", _cli("runs", "--parent", "nothing"), cli=True),
    Case("cli-lineage-bad-version", "cli", _cli("lineage", "a@b"), cli=True),
    Case("cli-describe-version-0", "cli", _cli("describe", "a@0"), cli=True),
    Case("cli-load-negative-version", "cli", _cli("load", "a@-1"), cli=True),
    Case(
        "cli-nextflow-port-too-big", "cli", _cli("nextflow", "serve", "--port", "99999"), cli=True
    ),
    Case("cli-nextflow-port-negative", "cli", _cli("nextflow", "serve", "--port", "-5"), cli=True),
    Case(
        "cli-nextflow-ingest-missing", "cli", _cli("nextflow", "ingest", "/no/such/dir"), cli=True
    ),
]

CASES: list[Case] = [
    *(_key_case(n, k) for n, k in KEYS),
    *PATHS,
    *(_suffix_case(n, s) for n, s in SUFFIXES),
    *(_toml_case(n, t) for n, t in TOML),
    *(_env_case(n, e) for n, e in ENV),
    *DB,
    *_feature_cases(),
    *CLI,
]


def snapshot(work: Path) -> tuple[Any, ...]:
    """Rows per table, every file under the storage root and under ``work``."""
    inst = tl.instance()
    tables = [tl.Artifact, tl.Run, tl.Transform, tl.Feature, tl.Label, tl.Storage]
    counts = tuple(t.select().count() for t in tables)
    root = Path(inst.backend.root)
    stored = sorted(str(p) for p in root.rglob("*")) if root.exists() else []
    files = sorted(str(p) for p in work.rglob("*"))
    return counts, stored, files


def outcome(case: Case, work: Path) -> tuple[bool, str]:
    """(refused with one line and nothing written, what was said)."""
    from threadline.errors import ThreadlineError

    ctx = case.setup(work)
    before = snapshot(work)
    said = ""
    if case.cli:
        result = case.act(ctx)
        said = result.stderr.strip()
        ok = result.exit_code == 1 and not result.stdout and said.startswith("error: ")
        ok = ok and "\n" not in said
    else:
        try:
            case.act(ctx)
            ok, said = False, "accepted"
        except ThreadlineError as exc:
            said = str(exc)
            ok = bool(said) and "\n" not in said and "Traceback" not in said
        except Exception as exc:
            ok, said = False, f"{type(exc).__name__}: {exc}"
    return ok and snapshot(work) == before, said


def python_without_psycopg2() -> list[str]:
    """A child that cannot import psycopg2 (as where the extra is not installed)."""
    code = (
        "import sys; sys.modules['psycopg2'] = None\n"
        "import threadline as tl\n"
        "from threadline.cli import main\n"
        "main()\n"
    )
    return [sys.executable, "-c", code]
