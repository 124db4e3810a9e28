"""What a run ran in: interpreter, installed distributions, git state. No ``pip freeze``.

Distributions are read from the ``*.dist-info`` / ``*.egg-info`` folder names on
``sys.path`` (name and version are in the folder name), once per process. The git commit
and remote come from files under ``.git``; only the dirty flag needs ``git``, and it runs
in a background thread that ``GitInfo.result()`` joins.
"""

import configparser
import functools
import hashlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ._redact import redact_text

_DIST = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(-py[\d.]+)?\.(dist|egg)-info$")


@functools.cache
def distributions() -> tuple[str, ...]:
    """Sorted ``name==version`` of every distribution importable from ``sys.path``."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            match = _DIST.match(name)
            if match:
                key = match["name"].lower().replace("_", "-")
                found.setdefault(key, match["version"])
    return tuple(f"{k}=={v}" for k, v in sorted(found.items()))


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def environment_hash(packages: tuple[str, ...]) -> str:
    text = python_version() + "\n" + "\n".join(packages)
    return hashlib.sha256(text.encode()).hexdigest()


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _read_head(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref: "):
        return head or None
    ref = head[5:]
    ref_file = git_dir / ref
    if ref_file.is_file():
        return ref_file.read_text().strip()
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    return None  # a branch with no commit yet


def _remote(git_dir: Path) -> str | None:
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(git_dir / "config")
        return redact_text(parser.get('remote "origin"', "url"))
    except (configparser.Error, OSError):
        return None


@dataclass
class GitInfo:
    """Git repo, commit and (after ``result()``) the dirty flag of a work tree."""

    root: str
    repo: str | None
    commit: str | None
    _dirty: list[bool | None] = field(default_factory=lambda: [None])
    _thread: threading.Thread | None = None

    def result(self) -> bool | None:
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self._dirty[0]


def git_info(start: Path) -> GitInfo | None:
    root = find_git_root(start.resolve())
    if root is None:
        return None
    git_dir = root / ".git"
    if git_dir.is_file():  # a worktree: "gitdir: <path>"
        text = git_dir.read_text().strip()
        git_dir = (root / text.removeprefix("gitdir: ")).resolve()
    info = GitInfo(str(root), _remote(git_dir) or str(root), _read_head(git_dir))
    info._thread = threading.Thread(target=_dirty, args=(root, info._dirty), daemon=True)
    info._thread.start()
    return info


def _dirty(root: Path, out: list[bool | None]) -> None:
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            timeout=10,
            check=False,
        )
        out[0] = bool(done.stdout.strip()) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        out[0] = None
