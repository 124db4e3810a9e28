"""The settings of an instance as values: ``Settings`` (where its database and objects
live) and ``Transport`` (remote storage timeouts and retries). ``_config`` resolves them
from arguments, the environment and project files."""

from __future__ import annotations


class Frozen:
    """Immutable named fields (``__slots__``) with value equality, hash and repr: what a
    frozen dataclass gives, without importing ``dataclasses``, which cost about 4 ms of
    every ``import threadline`` + first query (issue 17)."""

    __slots__: tuple[str, ...] = ()

    def _fill(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Transport(Frozen):
    """How long to wait for remote storage, and how often to try again: seconds to open a
    connection, seconds without an answer on an open one, further attempts after a failed
    request (0: try once)."""

    __slots__ = ("connect_timeout", "read_timeout", "retries")
    connect_timeout: float
    read_timeout: float
    retries: int

    def __init__(
        self, connect_timeout: float = 10.0, read_timeout: float = 30.0, retries: int = 2
    ) -> None:
        self._fill(connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries)


class Settings(Frozen):
    """A resolved instance: where its database and its objects live. ``cache_folder`` is
    THREADLINE_CACHE_DIR (None: the platform's, see ``cache_dir``); ``source`` says where
    the settings came from ("arguments", "environment", the project file's path or
    "default"); ``openlineage_url`` where live OpenLineage events go (None: nowhere)."""

    __slots__ = ("cache_folder", "db", "openlineage_url", "source", "storage", "transport")
    db: str
    storage: str
    cache_folder: str | None
    source: str
    transport: Transport
    openlineage_url: str | None

    def __init__(
        self,
        db: str,
        storage: str,
        cache_folder: str | None,
        source: str,
        transport: Transport | None = None,
        openlineage_url: str | None = None,
    ) -> None:
        self._fill(
            db=db,
            storage=storage,
            cache_folder=cache_folder,
            source=source,
            transport=transport or Transport(),
            openlineage_url=openlineage_url,
        )

    @property
    def cache_dir(self) -> str:
        """Where fetched objects and the hash cache live: THREADLINE_CACHE_DIR, else the
        platform's user cache folder, looked up on first use (platformdirs costs a
        tenth of the import of threadline, and most processes never need the folder)."""
        return self.cache_folder or platform_cache_dir()


def platform_cache_dir() -> str:
    from platformdirs import user_cache_dir

    return user_cache_dir("threadline", appauthor=False)
