"""Examples of docs/maintenance.md, run for real (SQLite and PostgreSQL).

The code between ``# -- start NAME --`` and ``# -- end NAME --`` appears verbatim in the
docs after ``<!-- example: NAME -->``; tests/docs/test_docs.py checks that they match.
"""

from pathlib import Path

import pytest
import threadline as tl

from tests.harness import write


def test_tombstones(db_instance, isolated):
    write("reads.txt", "ACGT")
    # -- start maintenance-tombstones --
    raw = tl.Artifact("reads.txt", key="raw/reads.txt").save()

    @tl.step()
    def clean(reads: tl.Artifact) -> tl.Artifact:
        Path("clean.txt").write_text(reads.load().lower())
        return tl.Artifact("clean.txt", key="clean/reads.txt").save()

    cleaned = clean(raw)
    raw.delete()  # to the trash: restorable until gc

    plan = tl.maintenance.gc_plan()  # what gc will do, doing nothing
    print("\n".join(plan.lines()))  # purge raw/reads.txt v1 (...): ... kept as a tombstone ...
    summary = tl.maintenance.gc(planned=plan)  # do exactly what was listed
    assert summary["tombstones_kept"] == 1

    stone = tl.Artifact.get(key="raw/reads.txt", version=1, visibility="purged")
    print(stone.deleted_by, stone.deleted_at, stone.purged_at)  # who deleted it, when
    assert [a.uid for a in tl.lineage.upstream(cleaned).artifacts] == [stone.uid]
    try:
        stone.load()
    except tl.errors.ArtifactPurged as err:
        print(err)  # artifact raw/reads.txt v1 (...) was purged at ... UTC by ... (...)
    # -- end maintenance-tombstones --
    assert "purged" in cleaned.describe(as_text=True)
    with pytest.raises(tl.errors.InvalidInput, match="refusing to forget"):
        tl.maintenance.gc_plan(forget=True)  # what the example below prints
    # -- start maintenance-forget --
    try:
        tl.maintenance.gc(forget=True)  # every tombstone ...
    except tl.errors.InvalidInput as err:
        print(err)  # refusing to forget: ... in the lineage of others, e.g. raw/reads.txt v1 ...
    tl.maintenance.gc(forget=["raw/reads.txt"])  # ... or those named, whatever depends on them
    # -- end maintenance-forget --
    assert tl.Artifact.filter(key="raw/reads.txt", visibility="purged").count() == 0
    with pytest.raises(tl.errors.NotFound):
        tl.Artifact.get(key="raw/reads.txt")


def test_delete_permanent(db_instance, isolated):
    write("reads.txt", "ACGT")
    write("notes.txt", "no run read these")
    # -- start maintenance-delete-permanent --
    raw = tl.Artifact("reads.txt", key="raw/reads.txt").save()
    notes = tl.Artifact("notes.txt", key="notes.txt").save()

    @tl.step()
    def clean(reads: tl.Artifact) -> tl.Artifact:
        Path("clean.txt").write_text(reads.load().lower())
        return tl.Artifact("clean.txt", key="clean/reads.txt").save()

    cleaned = clean(raw)
    try:
        raw.delete(forget=True)  # the record itself: refused, clean/reads.txt needs it
    except tl.errors.InvalidInput as err:
        print(err)  # refusing to forget raw/reads.txt v1 (...): it is in the lineage of ...
    assert raw.delete(permanent=True) == "tombstone"  # object freed, record kept
    assert notes.delete(permanent=True) == "erase"  # no run used it: record and object go
    assert "raw/reads.txt v1  (purged)" in cleaned.describe(as_text=True)
    # -- end maintenance-delete-permanent --
    assert raw.visibility == "purged" and raw.purged_by == raw.deleted_by
    assert tl.Artifact.filter(key="notes.txt", visibility__in=["trash", "purged"]).count() == 0
    assert tl.maintenance.gc_plan(min_age_s=0).purge == []  # nothing left for gc to purge
