"""A fit resumed with ``ckpt_path="last"`` into the same dirpath: the records match the
files Lightning keeps, evicts and overwrites, and the two runs are connected."""

from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline.lightning import Checkpoint as ModelCheckpoint  # the one changed line

from tests.plugins.lightning.models import TinyData, TinyModel, trainer

LOSSES = [5.0, 4.0, 3.0, 3.5, 1.0, 0.5]  # val_loss per epoch, over all fits


def fit(max_epochs: int, ckpt_path: str | None = None) -> ModelCheckpoint:
    """Lightning's documented pattern: top-2 by val_loss plus last.ckpt in one folder."""
    checkpoint_callback = ModelCheckpoint(
        dirpath="my/path/", save_top_k=2, monitor="val_loss", save_last=True
    )
    trainer([checkpoint_callback], max_epochs=max_epochs).fit(
        TinyModel(losses=LOSSES), TinyData(), ckpt_path=ckpt_path
    )
    return checkpoint_callback


def visible_checkpoints() -> list[tl.Artifact]:
    """The latest version of each checkpoint key outside the trash (earlier versions of
    last.ckpt are its history, not files of their own)."""
    return tl.Artifact.filter(kind="model", is_latest=True).order_by("id").all()


UNFLAGGED = {"is_best_model": False, "is_last_model": False, "model_rank": None}


def flagged(rank: int | None = None, best: bool = False, last: bool = False) -> dict:
    return {"is_best_model": best, "is_last_model": last, "model_rank": rank}


def flags(artifact: tl.Artifact) -> dict:
    values = artifact.features.get_values()
    return {k: values.get(k) for k in ("is_best_model", "is_last_model", "model_rank")}


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning's
def test_resume_matches_the_files_on_disk(db_instance, isolated):
    tl.lightning.save_lightning_features()
    first_run = tl.track(key="train.py")
    fit(max_epochs=3)
    tl.finish()
    on_disk = sorted(p.name for p in Path("my/path").iterdir())
    assert on_disk == ["epoch=1-step=4.ckpt", "epoch=2-step=6.ckpt", "last.ckpt"]

    resumed = tl.track(key="train.py")
    callback = fit(max_epochs=5, ckpt_path="last")
    tl.finish()
    # Lightning kept epoch 2 (3.0) of the first fit, evicted epoch 1 (4.0) and its own
    # epoch 3 (3.5), and wrote last.ckpt again.
    on_disk = sorted(p.name for p in Path("my/path").iterdir())
    assert on_disk == ["epoch=2-step=6.ckpt", "epoch=4-step=10.ckpt", "last.ckpt"]

    visible = visible_checkpoints()
    for artifact in visible:  # every visible checkpoint's file exists ...
        assert (Path("my/path") / artifact.key.rsplit("/", 1)[1]).is_file(), artifact.key
    names = {a.key.rsplit("/", 1)[1] for a in visible}
    assert names == set(on_disk)  # ... and every file on disk has one
    trashed = tl.Artifact.filter(kind="model", visibility="trash").order_by("id").all()
    assert [(a.key.rsplit("/", 1)[1], a.run.uid) for a in trashed] == [
        ("epoch=0-step=2.ckpt", first_run.uid),  # evicted during the first fit
        ("epoch=1-step=4.ckpt", first_run.uid),  # evicted by the resumed fit
        ("epoch=3-step=8.ckpt", resumed.uid),
    ]
    assert [flags(a) for a in trashed] == [UNFLAGGED] * 3

    best = tl.Artifact.get(is_best_model=True)  # one, not MultipleFound
    last = tl.Artifact.get(is_last_model=True)
    assert best.hash == adapters.hash_files([callback.best_model_path])[0]
    assert best.key.endswith("epoch=4-step=10.ckpt") and best.run.uid == resumed.uid
    assert last.hash == adapters.hash_files(["my/path/last.ckpt"])[0]
    assert last.key.endswith("last.ckpt") and last.run.uid == resumed.uid
    kept = {a.key.rsplit("/", 1)[1]: (a.run.uid, flags(a)) for a in visible if a.id != last.id}
    assert kept == {
        "epoch=2-step=6.ckpt": (first_run.uid, flagged(rank=1)),  # was rank 0
        "epoch=4-step=10.ckpt": (resumed.uid, flagged(rank=0, best=True)),
        "last.ckpt": (first_run.uid, UNFLAGGED),  # the first fit's, overwritten on disk
    }

    started_from = tl.Artifact.get(key=f"my/path/{first_run.uid}/checkpoints/last.ckpt")
    assert [a.uid for a in tl.Run.get(uid=resumed.uid).inputs] == [started_from.uid]
    upstream = tl.lineage.upstream(tl.Run.get(uid=resumed.uid))
    assert first_run.uid in {r.uid for r in upstream.runs}
    assert (started_from.uid, resumed.uid) in upstream.edges


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning's
def test_resume_without_a_run_is_versions_of_the_same_keys(local_instance, isolated):
    tl.lightning.save_lightning_features()
    fit(max_epochs=3)
    callback = fit(max_epochs=5, ckpt_path="last")
    on_disk = sorted(p.name for p in Path("my/path").iterdir())
    visible = visible_checkpoints()  # one per file: no run, so both fits share the keys
    assert sorted(a.key for a in visible) == [f"my/path/checkpoints/{n}" for n in on_disk]
    for artifact in visible:  # each holds what is on disk now
        path = Path("my/path") / artifact.key.rsplit("/", 1)[1]
        assert artifact.hash == adapters.hash_files([path])[0]
    last = tl.Artifact.get(key="my/path/checkpoints/last.ckpt")
    assert [a.version for a in last.versions] == [1, 2, 3, 4, 5]  # one per epoch, both fits
    best = tl.Artifact.get(is_best_model=True)
    assert best.hash == adapters.hash_files([callback.best_model_path])[0]
    assert tl.Artifact.get(is_last_model=True).uid == last.uid
    ranks = {a.key.rsplit("/", 1)[1]: flags(a)["model_rank"] for a in visible}
    assert ranks == {"epoch=2-step=6.ckpt": 1, "epoch=4-step=10.ckpt": 0, "last.ckpt": None}


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning's
def test_a_resume_of_a_resume_evicts_the_first_fits_file(local_instance, isolated):
    """The second fit's checkpoint names the first fit's file it kept: the third finds it."""
    tl.lightning.save_lightning_features()
    runs = []
    for epochs, ckpt_path in [(3, None), (5, "last"), (6, "last")]:
        runs.append(tl.track(key="train.py"))
        fit(max_epochs=epochs, ckpt_path=ckpt_path)
        tl.finish()
    first, second, third = (run.uid for run in runs)
    on_disk = sorted(p.name for p in Path("my/path").iterdir())
    assert on_disk == ["epoch=4-step=10.ckpt", "epoch=5-step=12.ckpt", "last.ckpt"]
    trashed = tl.Artifact.filter(kind="model", visibility="trash").order_by("id").all()
    assert f"my/path/{first}/checkpoints/epoch=2-step=6.ckpt" in [a.key for a in trashed]
    visible = {a.key: flags(a) for a in visible_checkpoints()}
    assert visible == {
        f"my/path/{first}/checkpoints/last.ckpt": UNFLAGGED,
        f"my/path/{second}/checkpoints/epoch=4-step=10.ckpt": flagged(rank=1),
        f"my/path/{second}/checkpoints/last.ckpt": UNFLAGGED,
        f"my/path/{third}/checkpoints/epoch=5-step=12.ckpt": flagged(rank=0, best=True),
        f"my/path/{third}/checkpoints/last.ckpt": flagged(last=True),
    }
    inputs = [a.key for a in tl.Run.get(uid=third).inputs]
    assert inputs == [f"my/path/{second}/checkpoints/last.ckpt"]
