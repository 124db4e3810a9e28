"""Where the instance lives: resolve the database URL and storage root.

Resolution order (DESIGN.md section 4), first match wins:

1. explicit arguments (``tl.connect(db=..., storage=...)``, CLI ``--db``/``--storage``);
2. the environment: ``THREADLINE_DB`` and ``THREADLINE_STORAGE``;
3. the nearest ``threadline.toml`` found upward from the working directory
   (``threadline init`` writes it);
4. the embedded default: SQLite and a storage folder under the user data directory
   (``THREADLINE_HOME`` overrides that directory), created on first use.

Remote storage timeouts and retries (``Transport``) come from the ``[s3]`` table of
``threadline.toml`` (when that file names the instance), overridden by
``THREADLINE_S3_CONNECT_TIMEOUT``, ``THREADLINE_S3_READ_TIMEOUT`` and
``THREADLINE_S3_RETRIES``.

Nothing here prompts, logs in or touches the network. The project file is written with a
TOML library (tomli-w) and read back before it counts, so any path round-trips.

Resolving and opening use ``os.path`` only: ``pathlib`` (with the ``urllib.parse`` and
``ipaddress`` it imports, 16 M instructions: 4 ms of every start) loads only where a
project file is found or written.
"""

from __future__ import annotations

import math
import os
import re

from ._settings import Settings as Settings
from ._settings import Transport as Transport
from ._settings import platform_cache_dir
from .errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see tests)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

PROJECT_FILE = "threadline.toml"
ENV_DB = "THREADLINE_DB"
ENV_STORAGE = "THREADLINE_STORAGE"
ENV_HOME = "THREADLINE_HOME"
ENV_CACHE = "THREADLINE_CACHE_DIR"
ENV_PARENT_RUN = "THREADLINE_PARENT_RUN"
ENV_OPENLINEAGE = "THREADLINE_OPENLINEAGE_URL"
ENV_TRANSPORT = {
    "connect_timeout": "THREADLINE_S3_CONNECT_TIMEOUT",
    "read_timeout": "THREADLINE_S3_READ_TIMEOUT",
    "retries": "THREADLINE_S3_RETRIES",
}


def openlineage_url(value: Any = None, where: str = "threadline.toml") -> str | None:
    """The OpenLineage endpoint: ``THREADLINE_OPENLINEAGE_URL`` over the project file's
    ``openlineage_url``; an http(s) URL or nothing."""
    if os.environ.get(ENV_OPENLINEAGE):
        value, where = os.environ[ENV_OPENLINEAGE], ENV_OPENLINEAGE
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(f"openlineage_url in {where} must be an http(s) URL, got {value!r}")
    _check_text(value, "openlineage_url")
    return value


def transport(table: Any = None, where: str = "[s3]") -> Transport:
    """``Transport`` from a config table (``[s3]``), then the environment over it."""
    values: dict[str, Any] = {}
    if table is not None:
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table of settings")
        unknown = sorted(set(table) - set(ENV_TRANSPORT))
        if unknown:
            known = ", ".join(ENV_TRANSPORT)
            raise ConfigError(f"unknown setting {unknown[0]!r} in {where} (known: {known})")
        values.update(table)
    for name, env in ENV_TRANSPORT.items():
        if os.environ.get(env):
            values[name] = os.environ[env]
            where = env
    return Transport(**{k: _setting(k, v, where) for k, v in values.items()})


def _setting(name: str, value: Any, where: str) -> Any:
    try:
        number = int(value) if name == "retries" else float(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or not math.isfinite(number) or number < 0 or number > 3600:
        kind = "a whole number 0-20" if name == "retries" else "seconds, above 0"
        raise ConfigError(f"{name} in {where} must be {kind}, got {value!r}")
    if (name == "retries" and number > 20) or (name != "retries" and number == 0):
        raise ConfigError(f"{name} in {where} is out of range: {value!r}")
    return number


def home_dir() -> Path:
    from pathlib import Path  # not at import: see the module docstring

    return Path(_home_folder())


def _home_folder() -> str:
    if os.environ.get(ENV_HOME):
        return _pure(os.path.expanduser(os.environ[ENV_HOME]))
    from platformdirs import user_data_dir

    return _pure(user_data_dir("threadline", appauthor=False))


def _pure(path: str) -> str:
    """``str(Path(path))`` on POSIX without pathlib: repeated slashes and ``.`` segments
    dropped, no trailing slash (``..`` kept, as pathlib keeps it)."""
    start = "//" if path.startswith("//") and not path.startswith("///") else ""
    start = start or ("/" if path.startswith("/") else "")
    return start + "/".join(part for part in path.split("/") if part not in ("", ".")) or "."


def cache_dir() -> str:
    return _cache_folder() or platform_cache_dir()


def _cache_folder() -> str | None:
    if os.environ.get(ENV_CACHE):
        return _pure(os.path.expanduser(os.environ[ENV_CACHE]))
    return None


def sqlite_url(path: str | Path) -> str:
    return "sqlite:///" + os.path.realpath(os.path.expanduser(path))


def normalize_storage(root: str, base: Path | None = None) -> str:
    """A storage root as a canonical string: an absolute folder or ``s3://bucket/prefix``."""
    root = str(root).strip()
    if not root:
        raise ConfigError("empty storage root")
    _check_text(root, "storage root")
    if root.startswith(("s3://", "memory://")):
        scheme, _, location = root.partition("://")
        location = location.strip("/")
        if not location:
            raise ConfigError(f"storage {root!r} names no bucket")
        return f"{scheme}://{location}"
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(f"unsupported storage {root!r}: use a folder or s3://bucket/prefix")
    root = root.removeprefix("file://")
    path = os.path.expanduser(root)
    if not os.path.isabs(path):
        path = os.path.join(base or os.getcwd(), path)
    return os.path.realpath(path)


def _check_text(text: str, what: str) -> None:
    """Refuse what a config file cannot hold: NUL, and bytes that are not UTF-8."""
    if "\x00" in text:
        raise ConfigError(f"{what} {text!r} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{what} {text!r} is not valid UTF-8 text") from None


def normalize_db(url: str, base: Path | None = None) -> str:
    url = str(url).strip()
    _check_text(url, "database URL")
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path == ":memory:" or "mode=memory" in path:  # else a FILE named ':memory:'
            raise ConfigError(
                f"database URL {redact_url(url)!r} is an in-memory database, which "
                "threadline's connections cannot share: use a file (sqlite:////abs/path.db)"
            )
        if not os.path.isabs(path):
            path = os.path.join(base or os.getcwd(), path)
        return sqlite_url(path)
    raise ConfigError(
        f"unsupported database URL {redact_url(url)!r}: "
        "use sqlite:////abs/path.db or postgresql://user@host:port/db"
    )


_SECRET_QUERY = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#]*")


def redact_url(url: str) -> str:
    """``scheme://user:secret@host/db?password=x`` -> ``...user:***@host/db?password=***``.

    Credentials end at the last ``@`` (a password may hold ``@``, ``/`` or ``?``); when in
    doubt, more is masked, never less.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return _SECRET_QUERY.sub(r"\1***", f"{head}://{creds}{at}{host}")


def same_database(a: str, b: str) -> bool:
    """Whether two resolved database URLs name one database. SQLite URLs are already
    canonical (``sqlite_url``); two PostgreSQL URLs are one database when they connect
    alike (``pg_params``) but for the password: the ``postgres://`` alias, a password,
    the default host or port written out, and the order of the query's parameters do not
    make another database. Any other difference in the parameters does."""
    if a == b:
        return True
    pg = ("postgresql://", "postgres://")
    if not (a.startswith(pg) and b.startswith(pg)):
        return False
    try:
        return _identity(pg_params(a)) == _identity(pg_params(b))
    except ConfigError:  # not a usable URL: opening it says why
        return False


_SECRET_PARAMS = ("password", "sslpassword")


def _identity(params: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in params.items() if k not in _SECRET_PARAMS)


def pg_params(url: str) -> dict[str, str]:
    """The libpq connection parameters a PostgreSQL URL names: ``dbname``, ``user``,
    ``password``, ``host`` (default localhost) and ``port`` (default 5432) from its parts,
    then its query's parameters (libpq keywords such as ``sslmode``), which win, as
    libpq reads a URL."""
    from urllib.parse import parse_qsl, unquote, urlparse  # not loaded for SQLite (startup)

    parts = urlparse(url)
    try:
        port = parts.port or 5432
        literal_plus = parts.query.replace("+", "%2B")  # libpq reads + as +, not a space
        query = parse_qsl(literal_plus, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigError(
            f"database URL {redact_url(url)!r} has an invalid port or query"
        ) from None
    params = {"dbname": unquote(parts.path.strip("/")), "host": parts.hostname or "localhost"}
    params["port"] = str(port)
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    params.update(query)
    if not params["dbname"]:
        raise ConfigError(f"database URL {redact_url(url)!r} names no database")
    return params


def url_password(url: str) -> str | None:
    """The password a PostgreSQL URL connects with (``pg_params``: its authority's, or
    its query's, which wins), to mask where a driver may echo it; None for other URLs."""
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    try:
        return pg_params(url).get("password")
    except ConfigError:
        return None


def find_project_file(start: Path | None = None) -> Path | None:
    folder = os.path.realpath(start or os.getcwd())
    while True:
        candidate = os.path.join(folder, PROJECT_FILE)
        if os.path.isfile(candidate):
            from pathlib import Path  # only when there is a file to read

            return Path(candidate)
        if os.path.dirname(folder) == folder:
            return None
        folder = os.path.dirname(folder)


def _load(path: Path) -> dict[str, Any]:
    import tomllib  # stdlib, but 20 M instructions of regexes: only when a file is read

    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"cannot read {path}: invalid TOML: {first}") from exc


def read_project_file(path: Path) -> tuple[str, str, Transport]:
    """The database URL, the storage root and the transport settings of a project file."""
    data = _load(path)
    if "storage" not in data or "db" not in data:
        raise ConfigError(f"{path} must set both 'storage' and 'db'")
    for name in ("storage", "db"):
        if not isinstance(data[name], str):
            raise ConfigError(f"'{name}' in {path} must be a string")
    base = path.parent
    return (
        normalize_db(data["db"], base),
        normalize_storage(data["storage"], base),
        transport(data.get("s3"), f"[s3] of {path}"),
    )


def read_openlineage_url(path: Path) -> str | None:
    return openlineage_url(_load(path).get("openlineage_url"), str(path))


def write_project_file(folder: Path, storage: str, db: str | None) -> Path:
    """Write ``threadline.toml`` in ``folder``; the default database sits beside it.

    Written by a TOML library, read back before it replaces anything: a path that could
    not round-trip is refused here rather than breaking the next command.
    """
    import tomllib

    import tomli_w

    storage = normalize_storage(storage, folder)
    db = normalize_db(db, folder) if db else sqlite_url(folder / ".threadline" / "threadline.db")
    text = "# threadline instance\n" + tomli_w.dumps({"storage": storage, "db": db})
    if tomllib.loads(text) != {"storage": storage, "db": db}:  # pragma: no cover - a guard
        raise ConfigError(f"cannot write {storage!r} and {db!r} to a TOML file faithfully")
    path = folder / PROJECT_FILE
    tmp = folder / f".{PROJECT_FILE}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def resolve(db: str | None = None, storage: str | None = None) -> Settings:
    """Resolve settings by the documented order; each level gives both values or neither."""
    cache = _cache_folder()
    if db or storage:
        fallback = resolve() if not (db and storage) else None
        return Settings(
            db=normalize_db(db) if db else fallback.db,  # type: ignore[union-attr]
            storage=normalize_storage(storage) if storage else fallback.storage,  # type: ignore[union-attr]
            cache_folder=cache,
            source="arguments",
            transport=fallback.transport if fallback else transport(),
            openlineage_url=fallback.openlineage_url if fallback else openlineage_url(),
        )
    env_db, env_storage = os.environ.get(ENV_DB), os.environ.get(ENV_STORAGE)
    if env_db or env_storage:
        if not (env_db and env_storage):
            missing = ENV_STORAGE if env_db else ENV_DB
            raise ConfigError(f"{missing} must be set together with {ENV_DB}/{ENV_STORAGE}")
        db_url, root = normalize_db(env_db), normalize_storage(env_storage)
        return Settings(db_url, root, cache, "environment", transport(), openlineage_url())
    project = find_project_file()
    if project is not None:
        pdb, pstorage, ptransport = read_project_file(project)
        url = read_openlineage_url(project)
        return Settings(pdb, pstorage, cache, str(project), ptransport, url)
    home = _home_folder()
    return Settings(
        sqlite_url(os.path.join(home, "threadline.db")),
        os.path.realpath(os.path.join(home, "storage")),
        cache,
        "default",
        transport(),
        openlineage_url(),
    )
