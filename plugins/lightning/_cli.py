"""``SaveConfigCallback``: Lightning's own, kept under this name for existing code.

``Checkpoint`` records the config that any ``SaveConfigCallback`` (Lightning's default
included) writes (see ``_config``), so ``LightningCLI`` needs no argument for it.
"""

from lightning.pytorch.cli import SaveConfigCallback as LightningSaveConfigCallback


class SaveConfigCallback(LightningSaveConfigCallback):
    """Lightning's ``SaveConfigCallback`` unchanged: ``Checkpoint`` records the config of
    any ``SaveConfigCallback``, so ``LightningCLI``'s default needs no replacing. Kept for
    code written as ``LightningCLI(..., save_config_callback=SaveConfigCallback)``."""
