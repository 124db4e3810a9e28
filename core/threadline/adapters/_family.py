"""A run's family: every run under it, walked level by level."""

from ..models import Run

CHUNK = 500  # ids per IN (...) list, under every database's limit on parameters


def descendants(run: Run) -> list[Run]:
    """Every run under ``run`` (children, their children...), level by level: one query
    per level and per 500 runs of the level above."""
    found: list[Run] = []
    level = [run.id]
    while level:
        below: list[Run] = []
        for start in range(0, len(level), CHUNK):
            chunk = level[start : start + CHUNK]
            below += list(Run.select().where(Run.parent.in_(chunk)).order_by(Run.id))
        found += below
        level = [r.id for r in below]
    return found


def descendant_ids(ids: list[int]) -> list[int]:
    """The ids of every run under the runs ``ids``, level by level, ascending per level
    (``descendants`` without building the records)."""
    found: list[int] = []
    level = list(ids)
    while level:
        below: list[int] = []
        for start in range(0, len(level), CHUNK):
            query = Run.select(Run.id).where(Run.parent.in_(level[start : start + CHUNK]))
            below += [row[0] for row in query.order_by(Run.id).tuples()]  # type: ignore[index]
        found += below
        level = below
    return found
