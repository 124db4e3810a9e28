"""Features, best/last/rank bookkeeping, eviction to trash, versions, events."""

import logging
import shutil
from pathlib import Path

import pytest
import threadline as tl
from lightning.pytorch.loggers import CSVLogger
from threadline.lightning import (
    ArtifactRemovedEvent,
    ArtifactSavedEvent,
    Checkpoint,
    save_lightning_features,
)

from tests.plugins.lightning.models import TinyData, TinyModel, trainer
from tests.sql_log import recorded_sql


def checkpoints(**lookups) -> list[tl.Artifact]:
    return tl.Artifact.filter(key__endswith=".ckpt", **lookups).order_by("id").all()


def values(artifact: tl.Artifact) -> dict:
    return artifact.features.get_values()


def test_save_lightning_features_is_idempotent(local_instance):
    first = save_lightning_features()
    again = save_lightning_features()
    assert [f.id for f in first] == [f.id for f in again] and len(first) == 14
    assert tl.Feature.get(name="model_rank").dtype == "int"


def test_save_lightning_features_names_a_clash(local_instance):
    tl.Feature(name="score", dtype=str).save()
    with pytest.raises(tl.errors.InvalidInput, match="'score' exists with dtype str"):
        save_lightning_features()
    assert tl.Feature.filter(name="is_best_model").count() == 0  # nothing created


def test_features_auto_user_hparams_and_trainer(local_instance, isolated):
    save_lightning_features()
    for name, dtype in [
        ("lr", float),
        ("batch_size", int),
        ("dataset", str),
        ("val_loss", float),
        ("stage", str),
    ]:
        tl.Feature(name=name, dtype=dtype).save()
    run = tl.track(key="train.py")
    checkpoint = Checkpoint(
        monitor="val_loss",
        features={"run": {"dataset": "synthetic"}, "artifact": {"stage": "dev", "val_loss": None}},
    )
    trainer(
        [checkpoint], max_epochs=2, logger=CSVLogger("logs", name="tiny"), gradient_clip_val=0.5
    ).fit(TinyModel(lr=0.01, losses=[2.0, 1.0]), TinyData())
    assert tl.Run.get(uid=run.uid).features.get_values() == {
        "dataset": "synthetic",
        "logger_name": "tiny",
        "logger_version": "version_0",
        "max_epochs": 2,
        "max_steps": -1,
        "precision": "32-true",
        "accumulate_grad_batches": 1,
        "gradient_clip_val": 0.5,
        "monitor": "val_loss",
        "mode": "min",
        "lr": 0.01,
        "batch_size": 8,
    }  # module and datamodule hparams
    best = checkpoints()[-1]
    assert values(best) == {
        "save_weights_only": False,
        "monitor": "val_loss",
        "mode": "min",
        "score": 1.0,
        "stage": "dev",
        "val_loss": 1.0,
        "is_best_model": True,
        "is_last_model": True,
        "model_rank": 0,
    }
    assert best.kind == "model" and best.run.uid == run.uid
    tl.finish()


def test_missing_user_feature_fails_at_setup(local_instance, isolated):
    checkpoint = Checkpoint(features={"artifact": {"nope": 1, "nada": 2}})
    with pytest.raises(ValueError, match="nada, nope do not exist"):
        trainer([checkpoint], max_epochs=1).fit(TinyModel(), TinyData())
    assert tl.Artifact.filter().count() == 0


def test_one_best_one_last_and_ranks(local_instance, isolated):
    save_lightning_features()
    tl.track(key="train.py")
    checkpoint = Checkpoint(monitor="val_loss", save_top_k=3)
    trainer([checkpoint], max_epochs=4).fit(TinyModel(losses=[3.0, 1.0, 2.0, 4.0]), TinyData())
    kept = checkpoints()
    assert [values(a)["score"] for a in kept] == [3.0, 1.0, 2.0]  # 4.0 never made top 3
    assert [values(a)["model_rank"] for a in kept] == [2, 0, 1]
    assert checkpoints(is_best_model=True)[0].uid == kept[1].uid
    assert [a.uid for a in checkpoints(is_last_model=True)] == [kept[2].uid]
    assert checkpoint.last_checkpoint_artifact.uid == kept[2].uid
    tl.finish()


def test_eviction_moves_to_trash_and_restores(local_instance, isolated):
    save_lightning_features()
    removed = []

    class Recorder:
        def on_artifact_removed(self, event):  # no on_artifact_saved: skipped
            removed.append(event)

    checkpoint = Checkpoint(monitor="val_loss", save_top_k=1, artifact_observers=[Recorder()])
    trainer([checkpoint], max_epochs=3).fit(TinyModel(losses=[3.0, 2.0, 1.0]), TinyData())
    assert [a.key for a in checkpoints()] == ["checkpoints/epoch=2-step=6.ckpt"]
    trashed = checkpoints(visibility="trash")
    assert [a.key for a in trashed] == [
        "checkpoints/epoch=0-step=2.ckpt",
        "checkpoints/epoch=1-step=4.ckpt",
    ]
    assert [e.key for e in removed] == [a.key for a in trashed]
    assert all(isinstance(e, ArtifactRemovedEvent) and e.storage_uri for e in removed)
    trashed[0].restore()  # restorable until `threadline gc`
    assert tl.Artifact.get(key="checkpoints/epoch=0-step=2.ckpt").uid == trashed[0].uid


def test_save_last_is_versions_of_one_key(local_instance, isolated, caplog):
    save_lightning_features()
    caplog.set_level(logging.WARNING, logger="threadline.lightning")
    checkpoint = Checkpoint(save_last=True)
    trainer([checkpoint], max_epochs=3).fit(TinyModel(), TinyData())
    last = tl.Artifact.get(key="checkpoints/last.ckpt")
    assert [a.version for a in last.versions] == [1, 2, 3]  # nothing deleted
    assert [values(a)["is_last_model"] for a in last.versions] == [False, False, True]
    assert any("redundant" in r.getMessage() for r in caplog.records)


def test_overwrite_without_keep_versions(local_instance, isolated):
    checkpoint = Checkpoint(save_last=True, keep_versions=False)
    trainer([checkpoint], max_epochs=3).fit(TinyModel(), TinyData())
    last = tl.Artifact.get(key="checkpoints/last.ckpt")
    assert [a.version for a in last.versions] == [3]


def test_same_key_in_a_new_fit_is_the_next_version(local_instance, isolated):
    checkpoint = Checkpoint(dirpath="ckpts", enable_version_counter=False)
    trainer([checkpoint], max_epochs=1).fit(TinyModel(), TinyData())
    checkpoint = Checkpoint(dirpath="ckpts", enable_version_counter=False)
    with pytest.warns(UserWarning, match="exists and is not empty"):  # Lightning's own
        trainer([checkpoint], max_epochs=1).fit(TinyModel(), TinyData())
    assert [
        a.version for a in tl.Artifact.get(key="ckpts/checkpoints/epoch=0-step=2.ckpt").versions
    ] == [1, 2]


def test_subclass_hook_runs_before_observers(local_instance, isolated):
    order = []

    class Publishing(Checkpoint):
        def on_artifact_saved(self, event):
            order.append(("hook", event.kind, event.key))

    class Observer:
        def on_artifact_saved(self, event):
            order.append(("observer", event.kind, event.key))

    checkpoint = Publishing(dirpath="ckpts", run_uid_is_version=False)
    checkpoint.add_artifact_observer(Observer())
    trainer([checkpoint], max_epochs=1).fit(TinyModel(), TinyData())
    key = "ckpts/checkpoints/epoch=0-step=2.ckpt"
    assert order == [("hook", "checkpoint", key), ("observer", "checkpoint", key)]
    event = checkpoint.last_artifact_event
    assert isinstance(event, ArtifactSavedEvent) and event.local_path.is_file()
    assert event.storage_uri == event.artifact.uri and event.trainer is not None
    assert checkpoint.get_last_artifact("checkpoint").uid == event.artifact.uid
    assert checkpoint.get_last_artifact("config") is None  # no CLI here


def test_removed_observer_hears_nothing(local_instance, isolated):
    heard = []

    class Observer:
        def on_artifact_saved(self, event):
            heard.append(event.key)

    observer = Observer()
    checkpoint = Checkpoint(artifact_observers=[observer])
    checkpoint.remove_artifact_observer(observer)
    trainer([checkpoint], max_epochs=1).fit(TinyModel(), TinyData())
    assert heard == [] and checkpoint.last_checkpoint_artifact is not None


def test_save_on_exception_passes_through(local_instance, isolated):
    class Failing(TinyModel):
        def training_step(self, batch, batch_idx):
            if self.current_epoch == 1:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    checkpoint = Checkpoint(save_on_exception=True, save_top_k=0)
    with pytest.raises(RuntimeError, match="boom"):
        trainer([checkpoint], max_epochs=2).fit(Failing(), TinyData())
    assert [a.key for a in checkpoints()] == ["checkpoints/epoch=1-step=2.ckpt"]


def test_checkpoint_failure_does_not_fail_lightning(local_instance, isolated, monkeypatch, caplog):
    monkeypatch.delenv("THREADLINE_STRICT")

    class Broken:
        def on_artifact_saved(self, event):
            raise OSError("registry unreachable")

    checkpoint = Checkpoint(save_top_k=-1, artifact_observers=[Broken()])
    trainer([checkpoint], max_epochs=2).fit(TinyModel(), TinyData())
    assert len(checkpoints()) == 2  # training and the artifacts went on
    errors = [
        r for r in caplog.records if r.name == "threadline.lightning" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and "Broken.on_artifact_saved" in errors[0].getMessage()


def queries_per_checkpoint(n_hparams: int, epochs: int) -> list[int]:
    """Statements run by each checkpoint save after the first, with many hparams."""
    hparams = {f"hp{i}": float(i) for i in range(n_hparams)}
    tl.Feature.filter(name__startswith="hp").count()
    for name in hparams:
        tl.Feature(name=name, dtype=float).save()
    counts = []

    class Counting(Checkpoint):
        def save_checkpoint_artifact(self, trainer, filepath, **kwargs):
            with recorded_sql() as sql:
                artifact = super().save_checkpoint_artifact(trainer, filepath, **kwargs)
            counts.append(len(sql))
            return artifact

    with tl.adapters.activate(tl.adapters.start_run("train", "training")):
        checkpoint = Counting(monitor="val_loss", save_top_k=3, dirpath=f"c{n_hparams}")
        losses = [float(epochs - i) for i in range(epochs)]  # every epoch a new best
        trainer([checkpoint], max_epochs=epochs).fit(
            TinyModel(losses=losses, **hparams), TinyData()
        )
    return counts[1:]


def test_queries_per_checkpoint_stay_flat(local_instance, isolated):
    save_lightning_features()
    few = queries_per_checkpoint(2, 4)
    many = queries_per_checkpoint(40, 8)
    assert max(many) == max(few) and max(many) == min(many[3:])  # flat in hparams and count


def test_flags_and_trash_on_every_backend(instance, isolated):
    save_lightning_features()
    run = tl.track(key="train.py")
    checkpoint = Checkpoint(monitor="val_loss", save_top_k=2)
    trainer([checkpoint], max_epochs=3).fit(TinyModel(losses=[3.0, 1.0, 2.0]), TinyData())
    tl.finish()
    kept = checkpoints()
    assert [values(a)["model_rank"] for a in kept] == [0, 1]
    assert [a.key.rsplit("/", 1)[1] for a in checkpoints(visibility="trash")] == [
        "epoch=0-step=2.ckpt"
    ]
    event = checkpoint.last_artifact_event  # epoch 0 left the top 2 after epoch 2 saved
    assert isinstance(event, ArtifactRemovedEvent) and event.key.endswith("epoch=0-step=2.ckpt")
    assert event.storage_uri == event.artifact.uri and event.artifact.run.uid == run.uid
    assert checkpoint.last_checkpoint_artifact.uid == kept[-1].uid
    with tl.Artifact.get(is_best_model=True).open() as handle:
        assert handle.read(2) == b"PK"  # a torch checkpoint (zip), stored whole


def test_one_callback_in_two_runs_starts_over(local_instance, isolated):
    save_lightning_features()
    checkpoint = Checkpoint(dirpath="ckpts", monitor="val_loss", save_top_k=-1)
    with tl.adapters.activate(tl.adapters.start_run("train", "training")):
        trainer([checkpoint], max_epochs=1).fit(TinyModel(losses=[2.0]), TinyData())
    with (
        tl.adapters.activate(tl.adapters.start_run("train", "training")),
        pytest.warns(UserWarning, match="exists and is not empty"),
    ):  # Lightning's own warning
        # Lightning skips a save at the step it saved last: the second fit saves at step 4
        trainer([checkpoint], max_epochs=2).fit(TinyModel(losses=[1.0]), TinyData())
    first, second = checkpoints()
    assert values(first)["is_best_model"] and values(second)["is_best_model"]  # per run
    assert (values(first)["model_rank"], values(second)["model_rank"]) == (0, 0)
    assert second.run.features.get_values()["max_epochs"] == 2  # written again


@pytest.mark.filterwarnings("ignore:The dirpath has changed")  # Lightning's own, expected
def test_a_resumed_fit_reads_the_checkpoint_it_started_from(local_instance, isolated):
    save_lightning_features()
    first_run = tl.adapters.start_run("train", "training")
    with tl.adapters.activate(first_run):
        first = Checkpoint(dirpath="ckpts", monitor="val_loss", save_top_k=1)
        trainer([first], max_epochs=1).fit(TinyModel(losses=[2.0]), TinyData())
    tl.adapters.finish_run(first_run)
    (saved,) = checkpoints()
    resumed = tl.adapters.start_run("train", "training")
    with tl.adapters.activate(resumed):
        again = Checkpoint(dirpath="ckpts-resumed", monitor="val_loss", save_top_k=1)
        trainer([again], max_epochs=2).fit(
            TinyModel(losses=[1.0]), TinyData(), ckpt_path=first.best_model_path
        )
    inputs = list(tl.Run.get(uid=resumed.uid).inputs)
    assert [(a.uid, a.run.uid) for a in inputs] == [(saved.uid, first_run.uid)]


def test_storage_failure_does_not_fail_lightning(local_instance, isolated, monkeypatch, caplog):
    monkeypatch.delenv("THREADLINE_STRICT")
    storage = tl.instance().settings.storage
    shutil.rmtree(storage, ignore_errors=True)
    Path(storage).write_text("not a folder")  # a real fault: objects cannot be stored
    checkpoint = Checkpoint(dirpath="ckpts", save_top_k=-1)
    trainer([checkpoint], max_epochs=2).fit(TinyModel(), TinyData())
    assert len(list(Path("ckpts").rglob("*.ckpt"))) == 2  # Lightning's files are there
    assert tl.Artifact.filter().count() == 0  # nothing half-written
    errors = [
        r for r in caplog.records if r.name == "threadline.lightning" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and "saving the checkpoint artifact" in errors[0].getMessage()


def test_bad_hparam_value_is_left_out(local_instance, isolated, caplog):
    save_lightning_features()
    tl.Feature(name="lr", dtype=str).save()  # the model's lr is a float: it does not fit
    tl.Feature(name="hidden", dtype=int).save()
    tl.track(key="train.py")
    trainer([Checkpoint(save_top_k=-1)], max_epochs=2).fit(TinyModel(lr=0.1), TinyData())
    run = tl.finish()
    assert len(checkpoints(is_last_model=True)) == 1 and len(checkpoints()) == 2
    assert run.features.get_values()["hidden"] == 4 and "lr" not in run.features.get_values()
    said = [r.getMessage() for r in caplog.records if r.name == "threadline.lightning"]
    assert "threadline: run values left out: feature 'lr' expects str, got 0.1" in said


def test_bad_user_value_never_blocks_the_flags(local_instance, isolated, monkeypatch, caplog):
    monkeypatch.delenv("THREADLINE_STRICT")  # nothing may be logged as a failure either
    save_lightning_features()
    tl.Feature(name="note", dtype=int).save()

    class Noting(Checkpoint):  # the last save (the new best) carries a value that does not fit
        def save_checkpoint_artifact(self, trainer, filepath, **kwargs):
            note = "not an int" if trainer.current_epoch == trainer.max_epochs - 1 else 7
            return super().save_checkpoint_artifact(
                trainer, filepath, feature_values={"note": note}
            )

    tl.track(key="train.py")
    checkpoint = Noting(monitor="val_loss", save_top_k=-1)
    trainer([checkpoint], max_epochs=3).fit(TinyModel(losses=[3.0, 2.0, 1.0]), TinyData())
    tl.finish()
    kept = checkpoints()
    assert [a.uid for a in checkpoints(is_best_model=True)] == [kept[2].uid]
    assert [a.uid for a in checkpoints(is_last_model=True)] == [kept[2].uid]
    assert [values(a).get("note") for a in kept] == [7, 7, None]
    assert [values(a)["model_rank"] for a in kept] == [2, 1, 0]
    assert values(kept[2])["score"] == 1.0  # the values that fit are written
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "threadline.lightning"]
    assert (
        logging.WARNING,
        "threadline: checkpoint values left out: feature 'note' expects int, got 'not an int'",
    ) in said
    assert not [m for level, m in said if level >= logging.ERROR]
