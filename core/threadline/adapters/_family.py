"""A run's family: every run under it, level by level."""

from ..models import Run
from ..models.run import runs_below


def descendants(run: Run) -> list[Run]:
    """Every run under ``run`` (children, their children...), level by level and by id
    within a level: one query (the family's recursive subquery, shared with the lineage
    graph and ``outputs_of``), the levels sorted out here from the parent ids."""
    children: dict[int | None, list[Run]] = {}
    for member in Run.select().where(Run.id.in_(runs_below([run.id]))):
        children.setdefault(member.parent_id, []).append(member)
    found: list[Run] = []
    level = [run.id]
    while level:
        below = sorted((c for p in level for c in children.get(p, ())), key=lambda r: r.id)
        found += below
        level = [r.id for r in below]
    return found
