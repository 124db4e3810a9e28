"""Content hashes: full-content SHA-256, folder manifests, parallel hashing, a stat cache.

- A file's hash is SHA-256 over every byte, read in large chunks (never head+tail).
- A folder's hash is SHA-256 over the sorted lines ``<relative path>\\t<file hash>\\n``.
- ``StatCache`` remembers hashes by (device, inode, size, mtime_ns, ctime_ns) in a small
  SQLite file in the cache folder, so a file that did not change is never read twice, and
  a file replaced by one of the same size and mtime (``cp -p``, ``rsync -t``, ``unzip``)
  is read again: the replacement changed its ctime (and usually its inode).
- Only regular files are read (a FIFO would block, ``/dev/zero`` never ends); a file that
  changes while it is read is refused (``SourceChanged``), never hashed half old, half new.
- ``hash_paths`` hashes many files in threads (hashlib releases the GIL on big buffers).
"""

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

# re-exported (``X as X``): hashing is their public home; _digests holds them off the start path
from ._digests import Stamp as Stamp
from ._digests import StatCache as StatCache
from ._digests import manifest_hash as manifest_hash
from ._digests import sha256_bytes as sha256_bytes
from ._digests import stamp_of as stamp_of
from .errors import InvalidInput, SourceChanged

CHUNK = 8 << 20  # 8 MiB reads
SMALL = 1 << 20  # files below this are read in one call


@dataclass(frozen=True)
class Hashed:
    """The identity of a file or folder on disk."""

    path: str
    hash: str
    size: int
    n_files: int | None  # None for a file
    files: tuple[str, ...] = ()  # relative paths, for a folder
    hashes: tuple[str, ...] = ()  # each file's hash, in ``files`` order (folders)
    sizes: tuple[int, ...] = ()  # each file's size, in ``files`` order (folders)
    stamps: tuple["Stamp", ...] = ()  # each file's stamp as hashed (one for a file)
    skipped: tuple["Skipped", ...] = ()  # folders: symbolic links not followed, and why


Skipped = tuple[str, str]  # (relative path of a symbolic link, why it was not followed)


def regular_stat(path: str) -> os.stat_result:
    """``os.stat(path)``, refusing what is not a regular file (FIFOs, devices, sockets)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"cannot save {path}: {_kind(st.st_mode)}, not a regular file")
    return st


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"


def check_unchanged(path: str, before: Stamp) -> None:
    """Raise ``SourceChanged`` unless ``path`` still has the stamp it had when hashed."""
    try:
        now = stamp_of(os.stat(path))
    except OSError:
        now = None
    if now != before:
        raise SourceChanged(path)


Progress = Callable[[int], object]  # called with bytes hashed since the last call


def _sha256_file(path: str, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := handle.readinto(buf):
            digest.update(view[:n])
            if progress is not None:
                progress(n)
    return digest.hexdigest()


def _sha256_small(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class _NoCache(StatCache):
    """Remembers nothing: every call hashes the file."""

    def __init__(self) -> None:
        super().__init__(None)

    def get(self, st: os.stat_result) -> str | None:
        return None

    def put(self, st: os.stat_result, hash_: str) -> None:
        return None


_NO_CACHE = _NoCache()


def hash_file(path: str, cache: StatCache = _NO_CACHE, progress: Progress | None = None) -> Hashed:
    """Hash one file; served from ``cache`` when its stat key is known.

    ``progress`` (optional) is called with byte counts as the file is read.
    """
    st = regular_stat(path)
    before = stamp_of(st)
    cached = cache.get(st)
    if cached is not None:
        if progress is not None:
            progress(st.st_size)
        return Hashed(path, cached, st.st_size, None, stamps=(before,))
    if st.st_size < SMALL:
        file_hash = _sha256_small(path)
        if progress is not None:
            progress(st.st_size)
    else:
        file_hash = _sha256_file(path, progress)
    check_unchanged(path, before)  # a file rewritten while read has no single hash
    cache.put(st, file_hash)
    return Hashed(path, file_hash, st.st_size, None, stamps=(before,))


LOOP = "a loop of links"
ANCESTOR = "a loop, to a folder that contains it"
OUTSIDE = "a folder outside the saved folder"
AGAIN = "a folder already saved through another link"


def list_files(folder: str) -> list[str]:
    """Relative paths of every file below ``folder``, sorted, with '/' separators."""
    return walk_folder(folder)[0]


def walk_folder(folder: str) -> tuple[list[str], list[Skipped]]:
    """Every file below ``folder`` (sorted relative paths, '/' separators) and the symbolic
    links not followed, with why.

    Links to files are followed wherever they lead (the file is saved under the link's
    name; what it is, a FIFO or a device, is checked when it is read). A link to a folder
    inside ``folder`` is followed once, its files saved under the link's path; a link to a
    folder that contains it (``loop -> .``, ``up -> ..``), a link that never resolves to
    anything (``self -> self``), a link to a folder outside ``folder``, and a second link
    to a folder already followed are skipped. Dangling links are kept: reading them fails
    and names them. So the walk always ends, and reads each folder a bounded number of times.
    """
    top = os.path.realpath(folder)
    files: list[str] = []
    skipped: list[Skipped] = []
    followed: set[str] = set()
    # (relative folder, its real path, the real folders walked down to it)
    pending: list[tuple[str, str, tuple[str, ...]]] = [("", top, (top,))]
    while pending:
        rel_dir, real_dir, above = pending.pop()
        for entry in _entries(os.path.join(folder, rel_dir)):
            rel = f"{rel_dir}{entry.name}"
            if not entry.is_symlink():
                if entry.is_dir(follow_symlinks=False):
                    real = f"{real_dir}{os.sep}{entry.name}"
                    pending.append((f"{rel}/", real, (*above, real)))
                else:
                    files.append(rel)
                continue
            why, target = _link(entry.path, top, above, followed)
            if why is not None:
                skipped.append((rel, why))
            elif target is None:
                files.append(rel)
            else:
                followed.add(target)
                pending.append((f"{rel}/", target, (*above, target)))
    return sorted(files), sorted(skipped)


def _entries(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


def _link(
    path: str, top: str, above: tuple[str, ...], followed: set[str]
) -> tuple[str | None, str | None]:
    """(why the link is skipped, or None; its real folder when it is one to follow)."""
    try:
        target = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return None, None  # dangling: kept, so that reading it names it
    except OSError:
        return LOOP, None
    if not os.path.isdir(target):
        return None, None
    here = above[-1]
    if target in above or here.startswith(target + os.sep) or top.startswith(target + os.sep):
        return ANCESTOR, None
    if not target.startswith(top + os.sep):
        return OUTSIDE, None
    if target in followed:
        return AGAIN, None
    return None, target


def hash_folder(
    path: str,
    cache: StatCache = _NO_CACHE,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Hashed:
    """Hash a folder's files in threads; ``progress`` gets byte counts (thread-safe).
    Symbolic links are followed as ``walk_folder`` says; those skipped are in ``skipped``."""
    files, skipped = walk_folder(path)
    hashed = _map_files([os.path.join(path, rel) for rel in files], cache, workers, progress)
    hashes = tuple(h.hash for h in hashed)
    sizes = tuple(h.size for h in hashed)
    return Hashed(
        path,
        manifest_hash(zip(files, hashes, strict=True)),
        sum(sizes),
        len(files),
        tuple(files),
        hashes,
        sizes,
        tuple(h.stamps[0] for h in hashed),
        tuple(skipped),
    )


def hash_path(path: str, cache: StatCache = _NO_CACHE, progress: Progress | None = None) -> Hashed:
    if os.path.isdir(path):
        return hash_folder(path, cache, progress=progress)
    return hash_file(path, cache, progress)


def _serialised(report: Progress) -> Progress:
    """``report`` behind a lock: progress bars are not thread-safe."""
    lock = threading.Lock()

    def locked(n: int) -> None:
        with lock:
            report(n)

    return locked


def _map_files(
    paths: list[str], cache: StatCache, workers: int | None, progress: Progress | None = None
) -> list[Hashed]:
    if progress is not None:
        progress = _serialised(progress)
    if len(paths) < 2:
        return [hash_file(p, cache, progress) for p in paths]
    workers = workers or min(8, (os.cpu_count() or 2) + 2)
    from concurrent.futures import ThreadPoolExecutor  # not at import: startup time

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: hash_file(p, cache, progress), paths))


def hash_paths(paths: list[str], cache: StatCache = _NO_CACHE) -> list[Hashed]:
    """Hash files and folders, several at once, in input order."""
    if len(paths) < 2:
        return [hash_path(p, cache) for p in paths]
    workers = min(8, (os.cpu_count() or 2) + 2)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: hash_path(p, cache), paths))
