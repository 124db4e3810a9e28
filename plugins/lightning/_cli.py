"""``SaveConfigCallback`` for ``LightningCLI``: the resolved config becomes an artifact.

Lightning writes ``config.yaml`` to the log directory as usual (and refuses to overwrite
an existing one unless ``overwrite=True``); on global rank zero the file is then handed to
the first artifact-publishing checkpoint callback on the trainer, which saves it as an
input of the active run.
"""

import os
from typing import Any

from threadline import adapters

from lightning.pytorch.cli import SaveConfigCallback as LightningSaveConfigCallback


class SaveConfigCallback(LightningSaveConfigCallback):
    """Use as ``LightningCLI(..., save_config_callback=SaveConfigCallback)``."""

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if not trainer.is_global_zero or trainer.log_dir is None:
            return
        guard = self.__dict__.setdefault(
            "_threadline_guard", adapters.Guard("lightning", host="training")
        )
        config_path = os.path.join(trainer.log_dir, self.config_filename)
        publisher = next(
            (cb for cb in trainer.callbacks if hasattr(cb, "save_config_artifact")), None
        )
        if publisher is None or not os.path.isfile(config_path):
            return
        with guard("the CLI config artifact"):
            publisher.save_config_artifact(trainer, config_path)
