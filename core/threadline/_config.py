"""Where the instance lives: resolve the database URL and storage root.

Resolution order (DESIGN.md section 4), first match wins:

1. explicit arguments (``tl.connect(db=..., storage=...)``, CLI ``--db``/``--storage``);
2. the environment: ``THREADLINE_DB`` and ``THREADLINE_STORAGE``;
3. the nearest ``threadline.toml`` found upward from the working directory
   (``threadline init`` writes it);
4. the embedded default: SQLite and a storage folder under the user data directory
   (``THREADLINE_HOME`` overrides that directory), created on first use.

Nothing here prompts, logs in or touches the network.
"""

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ConfigError

PROJECT_FILE = "threadline.toml"
ENV_DB = "THREADLINE_DB"
ENV_STORAGE = "THREADLINE_STORAGE"
ENV_HOME = "THREADLINE_HOME"
ENV_CACHE = "THREADLINE_CACHE_DIR"
ENV_PARENT_RUN = "THREADLINE_PARENT_RUN"


@dataclass(frozen=True)
class Settings:
    """A resolved instance: where its database and its objects live."""

    db: str
    storage: str
    cache_dir: str
    source: str  # "arguments", "environment", the project file's path, or "default"


def home_dir() -> Path:
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("threadline", appauthor=False))


def cache_dir() -> str:
    if os.environ.get(ENV_CACHE):
        return str(Path(os.environ[ENV_CACHE]).expanduser())
    from platformdirs import user_cache_dir

    return user_cache_dir("threadline", appauthor=False)


def sqlite_url(path: str | Path) -> str:
    return "sqlite:///" + str(Path(path).expanduser().resolve())


def normalize_storage(root: str, base: Path | None = None) -> str:
    """A storage root as a canonical string: an absolute folder or ``s3://bucket/prefix``."""
    root = str(root).strip()
    if not root:
        raise ConfigError("empty storage root")
    if root.startswith(("s3://", "memory://")):
        scheme, _, location = root.partition("://")
        location = location.strip("/")
        if not location:
            raise ConfigError(f"storage {root!r} names no bucket")
        return f"{scheme}://{location}"
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(f"unsupported storage {root!r}: use a folder or s3://bucket/prefix")
    root = root.removeprefix("file://")
    path = Path(root).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def normalize_db(url: str, base: Path | None = None) -> str:
    url = str(url).strip()
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
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


def url_password(url: str) -> str | None:
    """The password a database URL carries (in the authority or as a query parameter)."""
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError:
        return None
    if parts.password:
        return unquote(parts.password)
    found = query.get("password")
    return found[0] if found else None


def find_project_file(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def read_project_file(path: Path) -> tuple[str, str]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if "storage" not in data or "db" not in data:
        raise ConfigError(f"{path} must set both 'storage' and 'db'")
    base = path.parent
    return normalize_db(data["db"], base), normalize_storage(data["storage"], base)


def write_project_file(folder: Path, storage: str, db: str | None) -> Path:
    """Write ``threadline.toml`` in ``folder``; the default database sits beside it."""
    storage = normalize_storage(storage, folder)
    db = normalize_db(db, folder) if db else sqlite_url(folder / ".threadline" / "threadline.db")
    path = folder / PROJECT_FILE
    text = f"# threadline instance\nstorage = {json.dumps(storage)}\ndb = {json.dumps(db)}\n"
    path.write_text(text)
    return path


def resolve(db: str | None = None, storage: str | None = None) -> Settings:
    """Resolve settings by the documented order; each level gives both values or neither."""
    cache = cache_dir()
    if db or storage:
        fallback = resolve() if not (db and storage) else None
        return Settings(
            db=normalize_db(db) if db else fallback.db,  # type: ignore[union-attr]
            storage=normalize_storage(storage) if storage else fallback.storage,  # type: ignore[union-attr]
            cache_dir=cache,
            source="arguments",
        )
    env_db, env_storage = os.environ.get(ENV_DB), os.environ.get(ENV_STORAGE)
    if env_db or env_storage:
        if not (env_db and env_storage):
            missing = ENV_STORAGE if env_db else ENV_DB
            raise ConfigError(f"{missing} must be set together with {ENV_DB}/{ENV_STORAGE}")
        return Settings(normalize_db(env_db), normalize_storage(env_storage), cache, "environment")
    project = find_project_file()
    if project is not None:
        pdb, pstorage = read_project_file(project)
        return Settings(pdb, pstorage, cache, str(project))
    home = home_dir()
    return Settings(
        sqlite_url(home / "threadline.db"), str((home / "storage").resolve()), cache, "default"
    )
