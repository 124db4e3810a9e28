"""The public modules (``tl.adapters``, ``tl.lineage``...), imported together the first
time the package root is asked for one of them (``errors`` is imported with the root)."""

from . import adapters, caching, errors, export, lineage, maintenance

__all__ = ["adapters", "caching", "errors", "export", "lineage", "maintenance"]
