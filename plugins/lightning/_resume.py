"""A fit resumed from a checkpoint (``trainer.fit(..., ckpt_path=...)``).

The checkpoint is an input of the run, found by the adapters' one input rule (the artifact
at its key, else the one with its content), so the resumed run and the run that saved the
checkpoint are connected. When Lightning also restored the callback's own state (same
dirpath: its top-k, best and last paths), the artifacts of those files are adopted into
the callback's ledger: a file Lightning then evicts sends its artifact to the trash, one it
writes again keeps its artifact as the earlier run's output without flags, and best, last
and rank are recomputed over the earlier fit's files and the new ones together.
"""

import os
from typing import Any

from threadline import adapters

from . import _keys
from ._ledger import FLAGS, Entry

KEYS = "threadline_keys"  # in the callback's state in each checkpoint: path -> key
PREFIX = "threadline_key_prefix"


def saved_keys(callback: Any, saving: str | None) -> dict[str, Any]:
    """What the callback adds to its state in a checkpoint: the key of each file it
    tracks (``saving``, the file being written, under this fit's prefix), so that a
    resumed fit finds their artifacts by key, not by content (last.ckpt and the top-k
    file of the same step have the same bytes)."""
    keys = {path: entry.artifact.key for path, entry in callback._ledger.entries.items()}
    if saving is not None:
        keys[saving] = _keys.join(callback.checkpoint_key_prefix, os.path.basename(saving))
    return {PREFIX: callback.checkpoint_key_prefix, KEYS: keys}


def restored_paths(callback: Any) -> list[str]:
    """The files of the restored state that exist: top-k, last, best (in that order)."""
    paths = [*callback.best_k_models, callback.last_model_path, callback.best_model_path]
    return [p for p in dict.fromkeys(paths) if p and os.path.isfile(p)]


def resume(callback: Any, trainer: Any, path: str, restored: bool) -> None:
    """Link ``path`` as the run's input and adopt the restored files (rank zero only)."""
    run = callback._run
    started = None
    if run is not None:
        (started,) = adapters.resolve_inputs(run, [_input(callback, trainer, path)])
    if not restored:  # another dirpath: Lightning starts its top-k afresh, so do we
        return
    ledger = callback._ledger
    paths = [p for p in restored_paths(callback) if p not in ledger.entries]
    others = [p for p in paths if p != path or started is None]
    found = adapters.resolve_inputs(
        None, [_input(callback, trainer, p) for p in others], register_unknown=False
    )
    artifacts = dict(zip(others, found, strict=True))
    if path in paths and started is not None:
        artifacts[path] = started
    entries = []
    for p in paths:
        artifact = artifacts.get(p)
        if artifact is None or artifact.kind != "model":  # not a checkpoint we saved
            continue
        values = artifact.features.get_values()
        written = {k: values[k] for k in FLAGS if k in values}
        entries.append(Entry(p, artifact, callback._score_for(p), written))
    ledger.adopt(entries)


def _input(callback: Any, trainer: Any, path: str) -> adapters.Input:
    return adapters.Input(path=path, key=callback.resolve_artifact_key(trainer, path, "checkpoint"))
