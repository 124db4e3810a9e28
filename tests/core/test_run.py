"""``Run`` records themselves: a run pickled before the background writer wrote its row
(``adapters.start_run(..., later=True)``) keeps its id."""

import pickle

import pytest
import threadline as tl
from threadline import adapters


@pytest.mark.parametrize("db_instance", ["sqlite", "postgres"], indirect=True)
def test_a_run_still_to_be_written_is_written_before_it_is_pickled(db_instance, monkeypatch):
    writer = adapters.writer()
    writer.flush()
    monkeypatch.setattr(writer, "linger_s", 600.0)  # its row waits in the queue
    monkeypatch.setattr(writer, "quiet_s", 600.0)  # and does not end it when no job comes
    run = adapters.start_run("pickled/task", "task", source="echo task", later=True)
    assert run.__data__.get("id") is None  # not written yet

    copy = pickle.loads(pickle.dumps(run))

    assert copy.id is not None
    assert copy.id == tl.Run.get(uid=run.uid).id == run.id
    assert copy.uid == run.uid and copy.status == "started"
