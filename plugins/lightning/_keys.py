"""Artifact keys for checkpoints, ``hparams.yaml`` and the CLI config.

Keys are logical: they name a training's files by dirpath or logger, and by the run, not
by the local directory tree. The base prefix is, in order:

1. ``dirpath`` given: the dirpath (relative to the working directory when it lies below
   it), plus ``/{run uid}`` when a run is active and ``run_uid_is_version``;
2. a logger: ``{basename(save_dir or default_root_dir)}/{logger name}/{version}``, the
   version being the run uid when a run is active, else the logger's own;
3. neither: the run uid, or nothing.
"""

import os
from typing import Any

from ._features import logger_version


def segments(path: str) -> list[str]:
    """A path as key segments: no scheme, no empty, ``.`` or ``..`` segments."""
    text = path.split("://", 1)[-1].replace("\\", "/")
    return [s for s in text.split("/") if s not in ("", ".", "..")]


def dirpath_segments(dirpath: str) -> list[str]:
    """``dirpath`` relative to the working directory when below it, else as given."""
    path = os.fspath(dirpath)
    if "://" not in path and os.path.isabs(path):
        relative = os.path.relpath(path, os.getcwd())
        if not relative.startswith(".."):
            path = relative
    return segments(path)


def base_prefix(
    trainer: Any, dirpath: str | None, run_uid: str | None, run_uid_is_version: bool
) -> str:
    """The base prefix for this trainer, as described in the module docstring."""
    use_uid = run_uid if run_uid_is_version else None
    if dirpath is not None:
        parts = dirpath_segments(dirpath) + ([use_uid] if use_uid else [])
    elif trainer.loggers:
        logger = trainer.loggers[0]
        root = logger.save_dir or trainer.default_root_dir
        root_name = os.path.basename(os.fspath(root).rstrip("/\\")) if root else ""
        version = use_uid or logger_version(logger) or ""
        parts = segments(root_name) + segments(str(logger.name or "")) + segments(version)
    else:
        parts = [use_uid] if use_uid else []
    return "/".join(parts)


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)
