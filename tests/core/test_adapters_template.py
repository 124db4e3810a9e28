"""``adapters.RunTemplate``: the fields many runs share, prepared once; each run the same
row ``start_run`` makes, written at once or by the background writer."""

import datetime as dt

import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput, NotFound

# every column a run's own start sets differently: its identity and its time
OWN = {"id", "uid", "started_at"}


def columns(run: tl.Run) -> dict[str, object]:
    found = tl.Run.get(uid=run.uid)
    return {k: v for k, v in found.__data__.items() if k not in OWN}


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_a_templates_runs_are_the_rows_start_run_makes(db_instance):
    flow = adapters.start_run("tpl/flow", "flow", source="flow", engine="bench")
    shared = {"engine": "bench", "parent": flow, "project": "p1", "user": "ana"}
    template = adapters.RunTemplate("tpl/flow/task", "task", source="task", **shared)
    own = {"reference": "r-1", "name": "task-1", "params": {"x": 1, "y": [1, {"z": 2}]}}
    now = template.start(**own)
    queued = template.start(later=True, **own)
    alone = adapters.start_run("tpl/flow/task", "task", source="task", **shared, **own)
    adapters.writer().flush()
    assert columns(now) == columns(queued) == columns(alone)
    expected = {"parent": flow.id, "status": "started", "user": "ana", "name": "task-1"}
    assert expected.items() <= columns(now).items()
    assert len({now.uid, queued.uid, alone.uid}) == 3  # each run its own
    assert now.transform.id == queued.transform.id == alone.transform.id


def test_secrets_are_masked_in_shared_and_own_fields(local_instance):
    template = adapters.RunTemplate(
        "tpl/secret",
        "task",
        source="s",
        engine="bench",
        user="https://ana:hunter22@example.org",
    )
    run = template.start(
        reference="--token abc123",
        name="sample/password=hunter22/x",
        params={"api_key": "k-123", "n": 2},
        later=True,
    )
    adapters.writer().flush()
    found = tl.Run.get(uid=run.uid)
    assert found.user == "https://ana:***@example.org"
    assert (found.reference, found.name) == ("--token ***", "sample/password=***/x")
    assert found.params == {"api_key": "***", "n": 2}
    stored = tl.Run.select().where(tl.Run.uid == run.uid).dicts().get()
    assert "hunter22" not in repr(stored) and "abc123" not in repr(stored)


def test_each_run_gets_its_own_time_and_a_given_one(local_instance):
    template = adapters.RunTemplate("tpl/times", "task", source="t")
    given = dt.datetime(2026, 3, 4, 5, 6, 7, 891011)
    first, second = template.start(), template.start(started_at=given)
    assert first.started_at != given and tl.Run.get(uid=second.uid).started_at == given


def test_a_template_under_a_queued_parent_points_at_it_once_written(local_instance):
    parent = adapters.start_run("tpl/queued", "flow", source="q", later=True)
    template = adapters.RunTemplate("tpl/queued/task", "task", source="t", parent=parent)
    runs = [template.start(later=True, reference=str(i)) for i in range(3)]
    adapters.writer().flush()
    assert [tl.Run.get(uid=r.uid).parent_id for r in runs] == [parent.id] * 3


def test_a_parent_given_by_uid_is_found_once(local_instance):
    flow = adapters.start_run("tpl/uid", "flow", source="u")
    template = adapters.RunTemplate("tpl/uid/task", "task", source="t", parent=flow.uid)
    assert [template.start().parent_id for _ in range(2)] == [flow.id, flow.id]
    transforms = tl.Transform.select().count()
    with pytest.raises(NotFound, match="no run with uid 'missing'"):
        adapters.RunTemplate("tpl/uid/other", "task", source="o", parent="missing")
    assert tl.Transform.select().count() == transforms  # nothing written


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x"}, "a run template's runs each have their own name"),
        ({"params": {}, "reference": "r"}, "their own params, reference"),
        ({"status": "finished"}, "run status must be one of"),
    ],
)
def test_bad_template_fields_are_refused_and_nothing_is_written(local_instance, fields, message):
    before = (tl.Run.select().count(), tl.Transform.select().count())
    with pytest.raises(InvalidInput, match=message):
        adapters.RunTemplate("tpl/bad", "task", source="b", **fields)
    assert (tl.Run.select().count(), tl.Transform.select().count()) == before
