"""kill -9 during saves, on local storage and S3: afterwards no record lacks a correct
object, and saving the same content again completes what the killed save began."""

import os

import pytest
import threadline as tl

from tests.reliability.faults import child_env, kill_during_save


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite-local", "sqlite-s3"])
def test_kill_9_during_folder_saves(kind, request, isolated, tmp_path, monkeypatch):
    from tests.conftest import _settings

    db, storage = _settings(kind, tmp_path, request)
    monkeypatch.setenv("THREADLINE_DB", db)
    monkeypatch.setenv("THREADLINE_STORAGE", storage)
    tl.connect()
    try:
        env = child_env(db, storage, THREADLINE_CACHE_DIR=str(tmp_path / "child-cache"))
        spread = 0.25 if kind == "sqlite-local" else 0.6
        result = kill_during_save(isolated, env, trials=4, spread=spread)
        assert result.bad_records == 0
        assert result.resaved_ok == 4
        assert result.killed_mid_save >= 1, "every save finished before its kill"
        for trial in range(4):
            saved = tl.Artifact.get(key=f"kill/trial-{trial}")
            assert saved.n_files == 200
            assert len(os.listdir(saved.cache())) == 200
    finally:
        tl.disconnect()
