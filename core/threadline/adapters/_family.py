"""A run's family: every run under it, level by level."""

from ..models import Run
from ..models.run import runs_below


def descendants(run: Run) -> list[Run]:
    """Every run under ``run`` (children, their children...), level by level and by id
    within a level: one query (the family's recursive subquery, shared with the lineage
    graph and ``outputs_of``), the levels counted here from the parent ids."""
    family = list(Run.select().where(Run.id.in_(runs_below([run.id]))))
    parents = {r.id: r.parent_id for r in family}
    depth: dict[int, int] = {run.id: 0}

    def level(run_id: int) -> int:
        chain = []
        while run_id not in depth:  # each run's chain walked once, then remembered
            chain.append(run_id)
            run_id = parents[run_id]
        for below in reversed(chain):
            depth[below] = depth[run_id] + 1
            run_id = below
        return depth[run_id]

    return sorted(family, key=lambda r: (level(r.id), r.id))
