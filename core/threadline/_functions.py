"""The public functions that live in modules without other public names (``tl.save``,
``tl.validate``, ``tl.register_loader``), gathered for the package root's lazy loading."""

from ._loaders import register_loader
from .saving import save_artifacts as save
from .validation import validate

__all__ = ["register_loader", "save", "validate"]
