"""File names as Snakemake reports them, turned back into paths, storage keys and keys.

Job events list files as display strings: ``results/A.txt``, but also
``threadline://raw/x.csv (retrieve from storage)`` or ``data.fifo (pipe)``. These helpers
strip the annotation, tell storage queries from local paths, and derive artifact keys.
No Snakemake, no database: references are read by the adapter API's one parser.
"""

import os
import re
from dataclasses import dataclass

from threadline import adapters

SCHEME = "threadline://"
# what ``snakemake.io.fmt.fmt_iofile`` appends, alone or comma-joined: "(pipe, send to storage)"
LABELS = (
    "retrieve from storage",
    "send to storage",
    "only provide storage uri",
    "in storage",
    "pipe",
    "service",
    "nodelocal",
    "update",
    "before update",
    "cached",
)
_TRAILER = re.compile(r"^(?P<name>.*) \((?P<labels>[^()]*)\)$", re.DOTALL)


@dataclass(frozen=True)
class Reported:
    """One file of a job event: its name, Snakemake's labels, and whether it is storage."""

    name: str
    labels: tuple[str, ...] = ()

    @property
    def is_storage(self) -> bool:
        return any(
            label.endswith("storage") or label == "only provide storage uri"
            for label in self.labels
        )

    @property
    def is_special(self) -> bool:
        """Pipes and services are streams, not files to hash."""
        return "pipe" in self.labels or "service" in self.labels


def parse_reported(text: str) -> Reported:
    """``"x.csv (pipe, send to storage)"`` -> ``Reported("x.csv", ("pipe", ...))``.

    A name that merely ends in parentheses (``"plot (1).png"``) is kept whole.
    """
    match = _TRAILER.match(text)
    if match is None:
        return Reported(text)
    labels = tuple(part.strip() for part in match["labels"].split(","))
    if all(label in LABELS or label.startswith("access:") for label in labels):
        return Reported(match["name"], labels)
    return Reported(text)


def reference(query: str) -> str:
    """A threadline storage query as an artifact reference: ``threadline://raw/x.csv@3``
    -> ``raw/x.csv@3`` (what ``adapters.resolve_references`` reads)."""
    return query.removeprefix(SCHEME).strip("/")


def split_query(query: str) -> tuple[str, int | None]:
    """A threadline storage query -> (key, pinned version or None).

    Accepts ``threadline://raw/x.csv``, ``raw/x.csv`` and ``raw/x.csv@3``; ``raw/x@y``
    is bad input (``InvalidInput``): ``@`` selects a version.
    """
    return adapters.split_reference(reference(query))


def output_key(path: str, workdir: str, prefix: str | None) -> str | None:
    """The artifact key of a local file: its path under the working directory, after the
    prefix. Files outside the working directory get no key (found by content)."""
    absolute = os.path.normpath(os.path.join(workdir, path))
    relative = os.path.relpath(absolute, workdir)
    if relative == "." or relative.startswith(".."):
        return None
    relative = relative.replace(os.sep, "/")
    return f"{prefix.strip('/')}/{relative}" if prefix else relative


def absolute(path: str, workdir: str) -> str:
    return os.path.normpath(os.path.join(workdir, path))
