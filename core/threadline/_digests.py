"""Digests and the stat cache: what opening an instance and reading a stored folder need of
hashing (SHA-256 of bytes, a folder's hash over its manifest, file stamps, ``StatCache``).

Apart from ``hashing`` (hashing files and folders, whose ``Hashed`` dataclass alone is 4 M
instructions of every start); ``hashing`` re-exports each name here and is their public
home: only modules on the first query's path import them from here.
"""

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable

Stamp = tuple[int, int, int, int, int]  # (device, inode, size, mtime_ns, ctime_ns)


def stamp_of(st: os.stat_result) -> Stamp:
    """What changes when a file's content may have: a rewrite in place changes size or
    mtime_ns; ``cp -p`` or ``touch -r`` over it changes ctime_ns; a replacement, the inode."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_hash(entries: Iterable[tuple[str, str]]) -> str:
    """Hash of a folder from (relative path, file hash) pairs, order-independent."""
    digest = hashlib.sha256()
    for rel, file_hash in sorted(entries):
        digest.update(f"{rel}\t{file_hash}\n".encode())
    return digest.hexdigest()


class StatCache:
    """Hashes keyed by ``stamp_of`` (device, inode, size, mtime_ns, ctime_ns), in SQLite."""

    MEMORY_LIMIT = 200_000  # entries kept in this process before the dict starts over

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._memory: dict[Stamp, str] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ready = False

    def _setup(self, path: str) -> None:
        """Create the file and table once, before any thread opens its connection."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with sqlite3.connect(path, timeout=30, isolation_level=None) as conn:
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS stat2 (dev INT, ino INT, size INT, mtime INT,"
                " ctime INT, hash TEXT, PRIMARY KEY (dev, ino, size, mtime, ctime))"
                " WITHOUT ROWID"
            )
        conn.close()

    def _conn(self) -> sqlite3.Connection | None:
        path = self._path
        if path is None:
            return None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn  # type: ignore[no-any-return]
        try:
            with self._lock:
                if not self._ready:
                    self._setup(path)
                    self._ready = True
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=off")  # a cache: losing it costs speed only
        except (OSError, sqlite3.Error):
            if not self._ready:
                self._path = None  # an unusable cache only costs speed
            return None
        self._local.conn = conn
        return conn

    def get(self, st: os.stat_result) -> str | None:
        key = stamp_of(st)
        if key in self._memory:
            return self._memory[key]
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT hash FROM stat2 WHERE dev=? AND ino=? AND size=? AND mtime=? AND ctime=?",
                key,
            ).fetchone()
        except sqlite3.Error:
            return None
        if row:
            self._memory[key] = row[0]
        return row[0] if row else None

    def put(self, st: os.stat_result, hash_: str) -> None:
        key = stamp_of(st)
        if len(self._memory) >= self.MEMORY_LIMIT:
            self._memory.clear()
        self._memory[key] = hash_
        conn = self._conn()
        if conn is None:
            return
        with contextlib.suppress(sqlite3.Error):  # a cache write that fails costs speed only
            conn.execute("INSERT OR REPLACE INTO stat2 VALUES (?, ?, ?, ?, ?, ?)", (*key, hash_))
