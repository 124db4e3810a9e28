"""Which checkpoint is best, last and of what rank: kept in memory, written as changes.

The callback records each checkpoint artifact it saved here. After every save or removal
``changes()`` computes the flags every kept checkpoint should carry and returns only the
values that differ from what was written before, so the database sees a constant number of
statements per checkpoint however many checkpoints exist.
"""

from dataclasses import dataclass, field
from typing import Any

FLAGS = ("is_best_model", "is_last_model", "model_rank")


@dataclass
class Entry:
    """One checkpoint file and the artifact that holds its latest content."""

    path: str
    artifact: Any
    score: float | None
    written: dict[str, Any] = field(default_factory=dict)


class Ledger:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}  # by local path, in save order
        self.last_path: str | None = None

    def add(self, entry: Entry) -> Entry | None:
        """Record a save; returns the entry it replaces (same file saved again), if any."""
        previous = self.entries.pop(entry.path, None)
        self.entries[entry.path] = entry
        self.last_path = entry.path
        return previous

    def adopt(self, entries: list[Entry]) -> None:
        """Take over checkpoints an earlier fit saved (a resume): before this fit's own;
        the one that carries ``is_last_model`` is the last until this fit saves one."""
        self.entries = {**{e.path: e for e in entries}, **self.entries}
        if self.last_path is None:
            self.last_path = next((e.path for e in entries if e.written.get("is_last_model")), None)

    def remove(self, path: str) -> Entry | None:
        entry = self.entries.pop(path, None)
        if path == self.last_path:
            self.last_path = None
        return entry

    def wanted(
        self, best_path: str, ranked_paths: set[str] | None, mode: str
    ) -> dict[str, dict[str, Any]]:
        """The flags each kept checkpoint should carry now.

        ``ranked_paths`` are the files Lightning still ranks (its best-k); ``None`` means
        every scored checkpoint is ranked.
        """
        sign = 1.0 if mode == "min" else -1.0
        scored = sorted(
            (sign * e.score, index, e.path)
            for index, e in enumerate(self.entries.values())
            if e.score is not None and (ranked_paths is None or e.path in ranked_paths)
        )
        ranks = {path: rank for rank, (_, _, path) in enumerate(scored)}
        return {
            path: {
                "is_best_model": path == best_path,
                "is_last_model": path == self.last_path,
                "model_rank": ranks.get(path),
            }
            for path in self.entries
        }

    def changes(
        self, wanted: dict[str, dict[str, Any]], existing: set[str]
    ) -> list[tuple[Entry, dict[str, Any]]]:
        """``(entry, values)`` for values that differ from what was written (and exist)."""
        updates = []
        for path, flags in wanted.items():
            entry = self.entries[path]
            values = {
                k: v
                for k, v in flags.items()
                if k in existing and v is not None and entry.written.get(k) != v
            }
            if values:
                updates.append((entry, values))
        return updates
