"""TEMPORARY shim (H1): until adapters/ imports threadline.saving."""

from ..saving import save_artifacts  # noqa: F401
