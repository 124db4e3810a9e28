"""One conformance suite for every storage backend: local folder, memory, S3 (moto)."""

import logging
import uuid
from pathlib import Path

import pytest
from threadline.errors import SourceChanged, StorageError
from threadline.hashing import ANCESTOR, LOOP, StatCache, manifest_hash, sha256_bytes
from threadline.storage import (
    Backend,
    FsspecBackend,
    LocalBackend,
    _manifest,
    _objects,
    manifest_path,
    object_path,
    open_backend,
)

from tests import harness


@pytest.fixture(params=("local", "memory", "s3"))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return LocalBackend(str(tmp_path / "root"))
    if request.param == "memory":
        return FsspecBackend(f"memory://conformance-{uuid.uuid4().hex}")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"b{uuid.uuid4().hex[:12]}"
    harness.make_bucket(endpoint, bucket)
    return open_backend(f"s3://{bucket}/prefix")


def source(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_put_get_roundtrip(backend, tmp_path):
    backend.put_file(source(tmp_path, "in.bin", b"\x00\x01payload"), "a/b/obj.bin")
    target = tmp_path / "out" / "obj.bin"
    backend.get_file("a/b/obj.bin", str(target))
    assert target.read_bytes() == b"\x00\x01payload"
    info = backend.info("a/b/obj.bin")
    assert info is not None and info["size"] == 9 and info["type"] == "file"


def test_open_reads_stream(backend, tmp_path):
    backend.put_file(source(tmp_path, "in.txt", b"line1\nline2\n"), "t.txt")
    with backend.open("t.txt") as handle:
        assert handle.read() == b"line1\nline2\n"


def test_missing_objects(backend, tmp_path):
    assert backend.info("nope") is None and not backend.exists("nope")
    with pytest.raises(StorageError, match="cannot fetch"):
        backend.get_file("nope", str(tmp_path / "x"))
    backend.remove("nope")  # removing what is not there is not an error
    assert backend.list("nothing-here") == []


def test_folders_list_move_remove(backend, tmp_path):
    for rel in ("x/1.txt", "x/sub/2.txt"):
        source(tmp_path / "folder", rel, rel.encode())
    backend.put_folder(str(tmp_path / "folder" / "x"), "objs/x", ["1.txt", "sub/2.txt"])
    assert backend.list("objs") == ["objs/x/1.txt", "objs/x/sub/2.txt"]
    backend.move("objs/x/1.txt", "trash/1.txt")
    assert backend.list("trash") == ["trash/1.txt"]
    backend.remove("objs/x")
    assert backend.list("objs") == []


def test_sha256_streams_content(backend, tmp_path):
    backend.put_file(source(tmp_path, "h", b"hello"), "h")
    assert backend.sha256("h") == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )


def test_relative_uri(backend):
    assert backend.relative(backend.uri("a/b.txt")) == "a/b.txt"
    assert backend.relative("s3://elsewhere/x") is None


def test_overwrite_is_atomic_replacement(backend, tmp_path):
    backend.put_file(source(tmp_path, "v1", b"one"), "same")
    backend.put_file(source(tmp_path, "v2", b"two!"), "same")
    with backend.open("same") as handle:
        assert handle.read() == b"two!"


def test_object_path_layout():
    digest = "ab" + "c" * 62
    assert object_path(digest, ".txt") == ".threadline/objects/sha256/ab/" + "c" * 62 + ".txt"


def test_unreachable_s3_endpoint_is_storage_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{harness.free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    backend = open_backend("s3://bucket/prefix")
    with pytest.raises(StorageError, match="not reachable"):
        backend.check_reachable()


def test_local_root_not_writable(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    with pytest.raises(StorageError, match="not usable"):
        LocalBackend(str(blocked / "root")).check_reachable()


def test_a_failed_check_leaves_no_object(backend, tmp_path):
    """``put_file``/``put_folder`` run ``check`` after the copy: raising there (the source
    moved) must leave nothing at the object path."""

    def moved() -> None:
        raise SourceChanged(str(tmp_path / "in.bin"))

    with pytest.raises(SourceChanged):
        backend.put_file(source(tmp_path, "in.bin", b"payload"), "objs/file", moved)
    assert backend.info("objs/file") is None
    for rel in ("a.txt", "sub/b.txt"):
        source(tmp_path / "folder", rel, rel.encode())
    with pytest.raises(SourceChanged):
        backend.put_folder(str(tmp_path / "folder"), "objs/dir", ["a.txt", "sub/b.txt"], moved)
    assert backend.list("objs") == []


def test_put_folder_replaces_what_an_interrupted_upload_left(backend, tmp_path):
    for rel in ("a.txt", "b.txt"):
        source(tmp_path / "folder", rel, rel.encode())
    backend.put_bytes(b"stale partial", "objs/dir/a.txt")  # half an earlier upload
    backend.put_bytes(b"not ours", "objs/dir/zzz.txt")
    backend.put_folder(str(tmp_path / "folder"), "objs/dir", ["a.txt", "b.txt"])
    assert backend.list("objs") == ["objs/dir/a.txt", "objs/dir/b.txt"]
    with backend.open("objs/dir/a.txt") as handle:
        assert handle.read() == b"a.txt"


def test_an_empty_folder_can_be_stored(backend, tmp_path):
    (tmp_path / "empty").mkdir()
    backend.put_folder(str(tmp_path / "empty"), "objs/empty", [])
    assert backend.list("objs/empty") == []


def test_manifest_complete_only_when_it_matches(backend, tmp_path):
    path = object_path("ab" + "0" * 62, "")
    entries = [("x.txt", 1, "f" * 64)]
    digest = manifest_hash([("x.txt", "f" * 64)])
    assert not _manifest.complete(backend, path, digest)  # no manifest yet
    _manifest.write(backend, path, digest, entries)
    assert _manifest.complete(backend, path, digest)
    assert not _manifest.complete(backend, path, "0" * 64)  # another content's hash
    backend.put_bytes(b"{not json", manifest_path(path))
    assert not _manifest.complete(backend, path, digest)  # damaged: written again later
    backend.put_bytes(
        b'{"hash": "h", "files": [{"path": "../x", "size": 1, "sha256": "f"}]}', manifest_path(path)
    )
    with pytest.raises(StorageError, match="refusing path"):
        _manifest.read(backend, path)


def test_os_errors_are_one_storage_error_line(tmp_path):
    """Real OS faults (a file where a folder is needed, a folder read as a file) become
    one ``StorageError`` line naming the action and the object, on every operation."""
    backend = LocalBackend(str(tmp_path / "root"))
    backend.put_bytes(b"x", "file.txt")
    backend.put_bytes(b"y", "folder/inner.txt")
    source = tmp_path / "source.txt"
    source.write_text("z")
    root = backend.root
    cases = {
        f"cannot store 1 bytes at {root}/file.txt/under: ": lambda: backend.put_bytes(
            b"z", "file.txt/under"
        ),
        f"cannot store {source} at {root}/file.txt/under: ": lambda: backend.put_file(
            str(source), "file.txt/under"
        ),
        f"cannot move {root}/folder/inner.txt to file.txt/under: ": lambda: backend.move(
            "folder/inner.txt", "file.txt/under"
        ),
        f"cannot open {root}/folder: ": lambda: backend.sha256("folder"),
        f"cannot fetch {root}/folder: ": lambda: backend.get_file("folder", str(tmp_path / "c")),
        f"cannot remove {root}/file.txt/under: ": lambda: backend.remove("file.txt/under"),
    }
    for start, operation in cases.items():
        with pytest.raises(StorageError) as caught:
            operation()
        assert str(caught.value).startswith(start) and "\n" not in str(caught.value)
    assert backend.sha256("file.txt") == sha256_bytes(b"x")  # nothing was replaced


def test_a_folder_with_a_symlink_loop_is_stored_with_the_links_it_left_out(
    backend, tmp_path, caplog
):
    """``loop -> .`` and ``self -> self`` inside a folder: the folder is stored (it used
    to raise ELOOP), a link to a file and a linked subfolder inside it are followed, and
    the manifest lists the links left out, with why; one warning says so at save time."""
    folder = tmp_path / "looped"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    (folder / "loop").symlink_to(".")
    (folder / "self").symlink_to("self")
    (folder / "a-link").symlink_to("a.txt")
    (folder / "sub-link").symlink_to("sub")
    with caplog.at_level(logging.WARNING, logger="threadline.storage"):
        prepared = _objects.prepare(str(folder), backend, StatCache(None), "")
    assert prepared.files == ("a-link", "a.txt", "sub-link/b.txt", "sub/b.txt")
    assert dict(prepared.skipped) == {"loop": ANCESTOR, "self": LOOP}
    (warning,) = [r.getMessage() for r in caplog.records]
    assert f"without 2 symbolic links: loop ({ANCESTOR}); self ({LOOP})" in warning
    _objects.store(prepared, backend)
    where = prepared.object_path
    assert _manifest.complete(backend, where, prepared.hash)
    assert _manifest.skipped_links(backend, where) == [("loop", ANCESTOR), ("self", LOOP)]
    assert sorted(p[len(where) + 1 :] for p in backend.list(where)) == list(prepared.files)
    with backend.open(f"{where}/sub-link/b.txt") as handle:
        assert handle.read() == b"b"
