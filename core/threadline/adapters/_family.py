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
