"""``storage.threadline(...)`` and ``--default-storage-provider threadline``: Snakemake
finds this module by its name.

The plugin lives in ``threadline.snakemake``; see docs/snakemake.md.
"""

from threadline.snakemake import StorageObject, StorageProvider, StorageProviderSettings

__all__ = ["StorageObject", "StorageProvider", "StorageProviderSettings"]
