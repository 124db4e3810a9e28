"""The ``LightningCLI`` config: recorded as an input of the run with no code change.

``LightningCLI`` adds its ``SaveConfigCallback`` (Lightning's own, or any subclass) to
the trainer; it writes the resolved ``config.yaml`` to the log directory in its
``setup``, which Lightning runs before any checkpoint callback's. ``Checkpoint.setup``
then finds that callback (``find``) and hands the file, or the parser's dump of the
config when it wrote none (``save_to_log_dir=False``), to ``save_config_artifact``
(``record``). This module does not import Lightning's CLI (nor jsonargparse).
"""

import os
import sys
import tempfile
from typing import Any

from threadline import adapters

from . import _features


def find(trainer: Any) -> Any:
    """The CLI's config callback on the trainer, if ``LightningCLI`` made one. Lightning's
    CLI module is looked up, not imported: without the CLI it is never loaded."""
    cli = sys.modules.get("lightning.pytorch.cli")
    if cli is None:
        return None
    return next((cb for cb in trainer.callbacks if isinstance(cb, cli.SaveConfigCallback)), None)


def local_path(trainer: Any, callback: Any) -> str | None:
    """Where the callback wrote the config (call on every rank: ``log_dir`` broadcasts)."""
    if callback is None or not callback.save_to_log_dir:
        return None
    log_dir = trainer.log_dir
    return os.path.join(log_dir, callback.config_filename) if log_dir else None


def record(checkpoint: Any, trainer: Any, callback: Any, path: str | None) -> Any:
    """Save the config the callback wrote (or its dump) as an input of the run, once."""
    if path is not None and callback.already_saved and os.path.isfile(path):
        return checkpoint.save_config_artifact(trainer, path)
    with tempfile.TemporaryDirectory() as folder:
        dumped = os.path.join(folder, callback.config_filename)
        callback.parser.save(callback.config, dumped, skip_none=False, multifile=False)
        return checkpoint.save_config_artifact(trainer, dumped)


def store(run: Any, path: str, key: str, description: str, *, config: bool = False) -> Any:
    """``path`` saved with its secrets masked: the run's input of kind ``config`` (an
    artifact no run created) when ``config``, else the run's output."""
    with tempfile.TemporaryDirectory() as folder:
        local = _features.redacted_copy(path, folder)
        given = [adapters.Output(local, key=key, description=description)]
        if config:
            (artifact,) = adapters.register_inputs(run, given, kind="config")
        else:
            (artifact,) = adapters.register_outputs(run, given, create_features=False)
    return artifact
