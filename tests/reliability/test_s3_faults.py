"""S3 endpoint killed, frozen and restarted for real (moto in a child process).

A save must end with one clear line within its timeouts (never a traceback, never a
hang), leave no record, and succeed once the endpoint is back.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import threadline as tl
from threadline.errors import StorageError

from tests import harness
from tests.reliability.faults import child_env, save_during_outage

FAST = {
    "THREADLINE_S3_CONNECT_TIMEOUT": "2",
    "THREADLINE_S3_READ_TIMEOUT": "2",
    "THREADLINE_S3_RETRIES": "1",
}


@pytest.fixture
def moto(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[harness.MotoProcess]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    with harness.MotoProcess() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        harness.make_bucket(server.endpoint, "faults")
        monkeypatch.setenv("THREADLINE_DB", f"sqlite:///{isolated / 'db' / 'tl.db'}")
        monkeypatch.setenv("THREADLINE_STORAGE", "s3://faults/data")
        tl.connect()
        yield server
        harness.end_open_runs()  # a failed test may leave one: disconnect would refuse
        tl.disconnect()


def one_clear_line(stderr: str) -> None:
    assert stderr.startswith("error: ") and "\n" not in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_save_to_a_broken_endpoint_fails_cleanly_then_recovers(moto, isolated, fault):
    source = isolated / "data.bin"
    source.write_bytes(os.urandom(300_000))  # above the small-file size: streamed
    env = child_env(os.environ["THREADLINE_DB"], os.environ["THREADLINE_STORAGE"])
    result = save_during_outage(isolated, env, str(source), "faults/data.bin", fault, moto)
    assert result.exit_code == 1
    one_clear_line(result.stderr)
    assert "s3://faults/data" in result.stderr
    assert result.records_after == 0
    moto.restart() if fault == "killed" else moto.thaw()
    if fault == "killed":
        harness.make_bucket(moto.endpoint, "faults")  # moto keeps nothing across restarts
    saved = tl.Artifact(source, key="faults/data.bin").save()
    assert saved.version == 1 and tl.maintenance.check() == []


def test_frozen_endpoint_in_process_is_a_storage_error(moto, isolated):
    source = isolated / "small.txt"
    source.write_text("hello")
    moto.freeze()
    try:
        with pytest.raises(StorageError) as caught:
            tl.Artifact(source, key="faults/small.txt").save()
    finally:
        moto.thaw()
    message = str(caught.value)
    assert "\n" not in message and "s3://faults/data" in message
    assert "timeout" in message.lower()
    assert tl.Artifact.filter(key="faults/small.txt").count() == 0


def test_transport_settings_come_from_the_project_file(isolated, monkeypatch):
    for name in FAST:
        monkeypatch.delenv(name, raising=False)
    (isolated / "threadline.toml").write_text(
        'storage = "s3://b/p"\ndb = "sqlite:///x.db"\n[s3]\nread_timeout = 7\nretries = 0\n'
    )
    settings = tl._config.resolve()
    assert settings.transport.read_timeout == 7.0 and settings.transport.retries == 0
    assert settings.transport.connect_timeout == 10.0
    monkeypatch.setenv("THREADLINE_S3_RETRIES", "3")
    assert tl._config.resolve().transport.retries == 3
