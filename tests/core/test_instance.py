"""Switching instances: another database is refused while a run is open (its records
would be split between two databases), the same database with another storage root is not."""

import threading

import pytest
import threadline as tl
from threadline.errors import TrackingError


def _other(isolated):
    return {"db": f"sqlite:///{isolated / 'other.db'}", "storage": str(isolated / "other-st")}


def _save(isolated, name):
    (isolated / name).write_text(name)
    return tl.Artifact(isolated / name, key=name).save()


def test_another_database_is_refused_while_a_run_is_open(local_instance, isolated):
    run = tl.track()
    before = _save(isolated, "a.txt")
    with pytest.raises(TrackingError) as caught:
        tl.connect(**_other(isolated))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to sqlite:///{isolated / 'other.db'} while run ")
    assert run.uid in message and "\n" not in message
    assert not (isolated / "other.db").exists()  # nothing opened, nothing written
    assert tl.instance() is local_instance and tl.context.run.uid == run.uid
    after = _save(isolated, "b.txt")  # the run goes on in its own instance
    tl.finish()

    assert {a.run_id for a in (before, after)} == {run.id}
    assert tl.Run.get(uid=run.uid).status == "completed"
    tl.connect(**_other(isolated))  # once the run has ended, the switch is fine
    assert tl.Run.select().count() == 0 and tl.Artifact.select().count() == 0


def test_a_thread_cannot_switch_the_database_under_a_flow(local_instance, isolated):
    refused: list[BaseException] = []

    def switch() -> None:
        try:
            tl.connect(**_other(isolated))
        except TrackingError as error:
            refused.append(error)

    @tl.flow("switching")
    def switching() -> None:
        worker = threading.Thread(target=switch)
        worker.start()
        worker.join()
        _save(isolated, "c.txt")

    switching()
    flow_run = tl.Run.get(transform__key="switching")
    assert len(refused) == 1 and flow_run.uid in str(refused[0])
    assert flow_run.status == "completed"
    assert tl.Artifact.get(key="c.txt").run_id == flow_run.id
    assert not (isolated / "other.db").exists()


def test_the_same_database_with_another_storage_keeps_the_open_run(local_instance, isolated):
    run = tl.track()
    moved = tl.connect(storage=str(isolated / "second-root"))
    assert moved.settings.db == local_instance.settings.db
    assert tl.context.run is not None and tl.context.run.uid == run.uid
    saved = _save(isolated, "d.txt")
    tl.finish()
    assert saved.run_id == run.id and saved.storage.root.endswith("second-root")
    assert tl.Run.get(uid=run.uid).status == "completed"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [  # what psycopg2 would connect to, but for the password
        ("postgresql://me@db.example:5432/lab", "postgres://me:s3cret@DB.example/lab", True),
        ("postgresql://me@localhost:5432/lab", "postgresql://me@/lab", True),
        (
            "postgresql://me@h/lab?sslmode=require&application_name=x",
            "postgresql://me@h/lab?application_name=x&sslmode=require&password=p",
            True,
        ),
        ("postgresql://me@h/lab", "postgresql://me@h/lab2", False),
        ("postgresql://me@h/lab", "postgresql://you@h/lab", False),
        ("postgresql://me@h/lab", "postgresql://me@h:5433/lab", False),
        ("postgresql://me@h/lab", "postgresql://me@h/lab?port=5433", False),  # the query wins
        ("postgresql://me@h/lab", "postgresql://me@h/lab?options=-csearch_path%3Dother", False),
        ("postgresql://me@h/lab", "postgresql://me@h:x/lab", False),  # not a URL: not the same
        ("postgresql://me@h/lab?options=-ca+b", "postgresql://me@h/lab?options=-ca%2Bb", True),
        ("postgresql://me@h/lab?options=-ca+b", "postgresql://me@h/lab?options=-ca%20b", False),
        ("sqlite:////data/a.db", "sqlite:////data/a.db", True),
        ("sqlite:////data/a.db", "postgresql://me@h/a", False),
    ],
)
def test_which_spellings_name_one_database(a, b, same):
    from threadline import adapters

    assert adapters.same_database(a, b) is same
    assert adapters.same_database(b, a) is same


@pytest.mark.parametrize("db_instance", ["postgres"], indirect=True)
def test_another_spelling_of_the_database_keeps_the_open_run(db_instance, isolated):
    """The alias ``postgres://`` and a password (the test server trusts 127.0.0.1): one
    database, so the open run goes on; before, the switch was refused as another one."""
    url = db_instance.settings.db
    respelled = url.replace("postgresql://postgres@", "postgres://postgres:unused@", 1)
    assert respelled != url
    run = tl.track()
    tl.connect(db=respelled, storage=str(isolated / "second-root"))
    assert tl.context.run is not None and tl.context.run.uid == run.uid
    saved = _save(isolated, "e.txt")
    tl.finish()
    assert saved.run_id == run.id
    tl.connect(db=url, storage=db_instance.settings.storage)
    assert tl.Run.get(uid=run.uid).status == "completed"
    assert tl.Artifact.get(key="e.txt").run.uid == run.uid


def test_a_held_run_refuses_a_switch_until_it_is_closed(local_instance, isolated):
    """``adapters.hold``: open for the refusal, current nowhere (not even through the
    thread fallback), and let go by ``finish_run`` or ``release``."""
    from threadline import adapters

    pipeline = adapters.start_run("Snakefile", "pipeline", name="Snakefile")
    adapters.hold(pipeline)
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(tl.context.run))
    worker.start()
    worker.join()
    assert tl.context.run is None and seen == [None]
    assert _save(isolated, "a.txt").run is None  # saved with no creator, as before
    with pytest.raises(TrackingError, match=f"while run 'Snakefile' \\({pipeline.uid}\\) is open"):
        tl.connect(**_other(isolated))
    assert not (isolated / "other.db").exists()

    adapters.finish_run(pipeline)  # closing it lets go
    tl.connect(**_other(isolated))
    tl.connect(db=local_instance.settings.db, storage=local_instance.settings.storage)

    again = adapters.start_run("Snakefile", "pipeline")
    adapters.hold(again)
    adapters.release(again)  # let go without closing (an engine that failed to close it)
    tl.connect(**_other(isolated))


def test_disconnect_is_refused_while_a_run_is_open(local_instance, isolated):
    """After a disconnect the next use opens whichever instance resolves: the open run's
    outputs and close would go there. Refused like a switch, for tracked, activated and
    held runs alike; nothing is closed or forgotten."""
    from threadline import adapters

    run = tl.track()
    with pytest.raises(TrackingError) as caught:
        tl.disconnect()
    assert str(caught.value) == (  # (a tracked run has no name: its uid)
        f"cannot disconnect while run {run.uid} is open in "
        f"{local_instance.settings.db}: disconnect after the run ends"
    )
    assert tl.instance() is local_instance and tl.context.run.uid == run.uid
    assert _save(isolated, "a.txt").run.uid == run.uid  # the run goes on, in its instance
    tl.finish()

    pipeline = adapters.start_run("Snakefile", "pipeline")
    adapters.hold(pipeline)
    with pytest.raises(TrackingError, match="cannot disconnect while run"):
        tl.disconnect()
    adapters.finish_run(pipeline)
    tl.disconnect()  # nothing open: fine
    assert tl.Run.get(uid=run.uid).status == "completed"  # opened again on first use
