"""``snakemake --logger threadline``: Snakemake finds this module by its name.

The plugin lives in ``threadline.snakemake``; see docs/snakemake.md.
"""

from threadline.snakemake import LogHandler, LogHandlerSettings

__all__ = ["LogHandler", "LogHandlerSettings"]
