"""Hashing: full-content SHA-256, folder manifests, the stat cache, parallel hashing."""

import hashlib
import os
import subprocess

import pytest
from threadline.errors import InvalidInput
from threadline.hashing import (
    AGAIN,
    ANCESTOR,
    LOOP,
    OUTSIDE,
    StatCache,
    hash_file,
    hash_folder,
    hash_paths,
    list_files,
    manifest_hash,
    walk_folder,
)


def test_file_hash_is_full_content_sha256(tmp_path):
    data = os.urandom(3 * (8 << 20) + 17)  # several chunks and a tail
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert hash_file(str(path)).hash == hashlib.sha256(data).hexdigest()


def test_middle_byte_change_changes_hash(tmp_path):
    data = bytearray(os.urandom(20 << 20))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    before = hash_file(str(path)).hash
    data[10 << 20] ^= 0xFF  # a head+tail shortcut would miss this
    path.write_bytes(data)
    assert hash_file(str(path)).hash != before


def test_folder_hash_is_sorted_manifest(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("B")
    (tmp_path / "d" / "sub" / "a.txt").write_text("A")
    hashed = hash_folder(str(tmp_path / "d"))
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    expected = manifest_hash([("sub/a.txt", sha("A")), ("b.txt", sha("B"))])
    assert hashed.hash == expected and hashed.n_files == 2 and hashed.size == 2
    assert hashed.files == ("b.txt", "sub/a.txt")


def test_folder_hash_depends_on_names(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    (tmp_path / "one" / "x.txt").write_text("same")
    (tmp_path / "two" / "y.txt").write_text("same")
    assert hash_folder(str(tmp_path / "one")).hash != hash_folder(str(tmp_path / "two")).hash


def test_stat_cache_serves_an_unchanged_file(tmp_path):
    cache = StatCache(str(tmp_path / "cache.sqlite"))
    path = tmp_path / "f.txt"
    path.write_text("original")
    cache.put(path.stat(), "f" * 64)  # a planted entry: only a cache hit returns it
    assert hash_file(str(path), cache).hash == "f" * 64
    # A fresh cache object reads the persisted entry too.
    assert hash_file(str(path), StatCache(str(tmp_path / "cache.sqlite"))).hash == "f" * 64
    # A real modification (new content, new mtime) is re-hashed.
    path.write_text("changed!")
    assert hash_file(str(path), cache).hash == sha(b"changed!")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_same_size_same_mtime_rewrite_in_place_is_rehashed(tmp_path):
    """os.utime puts the old mtime back (what ``touch -r`` or a build tool does); the
    ctime moved, so the cache must not answer."""
    cache = StatCache(str(tmp_path / "cache.sqlite"))
    path = tmp_path / "f.txt"
    path.write_text("original")
    assert hash_file(str(path), cache).hash == sha(b"original")
    st = path.stat()
    path.write_text("ORIGINAL")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino
    assert hash_file(str(path), cache).hash == sha(b"ORIGINAL")


def test_cp_p_over_the_file_is_rehashed(tmp_path):
    """``cp -p new old``: same inode, same size, the source's mtime copied over."""
    cache = StatCache(str(tmp_path / "cache.sqlite"))
    path, other = tmp_path / "f.txt", tmp_path / "g.txt"
    path.write_text("version-1")
    other.write_text("version-2")
    os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    assert hash_file(str(path), cache).hash == sha(b"version-1")
    subprocess.run(["cp", "-p", str(other), str(path)], check=True)
    assert path.stat().st_mtime_ns == other.stat().st_mtime_ns
    assert hash_file(str(path), cache).hash == sha(b"version-2")


def test_replacement_by_rename_with_same_size_and_mtime_is_rehashed(tmp_path):
    """What ``unzip`` and ``rsync -t`` do: a new file, same size and mtime, renamed over."""
    cache = StatCache(str(tmp_path / "cache.sqlite"))
    path, new = tmp_path / "f.txt", tmp_path / "f.new"
    path.write_text("aaaa")
    st = path.stat()
    assert hash_file(str(path), cache).hash == sha(b"aaaa")
    new.write_text("bbbb")
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, path)
    assert hash_file(str(path), cache).hash == sha(b"bbbb")


def test_special_files_are_refused_not_read(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for special in (str(fifo), "/dev/zero", "/dev/null"):
        with pytest.raises(InvalidInput, match="not a regular file"):
            hash_file(special)  # a FIFO would block and /dev/zero never end


def test_unusable_cache_location_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = StatCache(str(blocker / "cache.sqlite"))
    path = tmp_path / "f.txt"
    path.write_text("data")
    assert hash_file(str(path), cache).hash == hashlib.sha256(b"data").hexdigest()


def test_hash_paths_keeps_order(tmp_path):
    paths = []
    for i in range(20):
        p = tmp_path / f"f{i}.txt"
        p.write_text(str(i))
        paths.append(str(p))
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("a")
    paths.append(str(tmp_path / "dir"))
    hashed = hash_paths(paths)
    assert [h.path for h in hashed] == paths
    assert hashed[3].hash == hashlib.sha256(b"3").hexdigest()
    assert hashed[-1].n_files == 1


def test_no_cache_means_every_call_hashes(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("original")
    st = path.stat()
    hash_file(str(path))
    path.write_text("ORIGINAL")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hash_file(str(path)).hash == hashlib.sha256(b"ORIGINAL").hexdigest()


def test_progress_reports_every_byte(tmp_path):
    (tmp_path / "d").mkdir()
    sizes = [10, 300_000, 2 * (8 << 20) + 5]  # small, medium, several chunks
    for i, size in enumerate(sizes):
        (tmp_path / "d" / f"f{i}").write_bytes(os.urandom(size))
    seen: list[int] = []
    hash_folder(str(tmp_path / "d"), progress=seen.append)
    assert sum(seen) == sum(sizes) and len(seen) >= len(sizes)
    seen.clear()
    hash_file(str(tmp_path / "d" / "f2"), progress=seen.append)
    assert sum(seen) == sizes[2] and len(seen) == 3  # one call per 8 MiB chunk


def _linked_folder(tmp_path):
    """A folder with every kind of symbolic link: loops, links to files and folders
    inside it, to a file and a folder outside it, and a link to the folder above it."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "ref.txt").write_text("reference")
    (outside / "deep" / "x.txt").write_text("x")
    top = tmp_path / "top"
    (top / "sub" / "inner").mkdir(parents=True)
    (top / "a.txt").write_text("a")
    (top / "sub" / "b.txt").write_text("b")
    (top / "sub" / "inner" / "c.txt").write_text("c")
    for name, target in {
        "loop": ".",
        "self": "self",
        "ping": "pong",
        "pong": "ping",
        "a-link": "a.txt",
        "sub-link": "sub",
        "sub-again": "sub",
        "sub/up": "..",
        "sub/inner/top": "../..",
        "ref.txt": str(outside / "ref.txt"),
        "out-folder": str(outside),
        "parent": "..",
    }.items():
        (top / name).symlink_to(target)
    return top


def test_a_folder_with_symlink_loops_is_hashed_and_says_what_it_left_out(tmp_path):
    """Links to files are followed; a link to a folder inside is followed once; loops,
    links to folders outside and a second link to a followed folder are skipped, each
    with why. The walk ends (it used to raise ELOOP on ``self -> self``)."""
    top = _linked_folder(tmp_path)
    files, skipped = walk_folder(str(top))
    assert list_files(str(top)) == files
    followed = sorted({"sub-link", "sub-again"} - {rel for rel, _ in skipped})
    assert len(followed) == 1  # one of the two links to sub/ is followed
    assert files == sorted(
        [
            "a.txt",
            "a-link",
            "ref.txt",  # a file outside: saved under the link's name
            "sub/b.txt",
            "sub/inner/c.txt",
            f"{followed[0]}/b.txt",
            f"{followed[0]}/inner/c.txt",
        ]
    )
    again = ({"sub-link", "sub-again"} - set(followed)).pop()
    assert dict(skipped) == {
        "loop": ANCESTOR,
        "self": LOOP,
        "ping": LOOP,
        "pong": LOOP,
        "parent": ANCESTOR,
        "out-folder": OUTSIDE,
        again: AGAIN,
        "sub/up": ANCESTOR,
        "sub/inner/top": ANCESTOR,
        f"{followed[0]}/up": ANCESTOR,
        f"{followed[0]}/inner/top": ANCESTOR,
    }
    hashed = hash_folder(str(top))
    assert hashed.files == tuple(files) and hashed.skipped == tuple(skipped)
    assert dict(zip(hashed.files, hashed.hashes, strict=True))["ref.txt"] == sha(b"reference")
    assert hashed.n_files == 7 and hashed.size == len("aa" + "reference" + "bbcc")


def test_links_between_many_folders_are_walked_a_bounded_number_of_times(tmp_path):
    """Twelve folders, each with a link to every other: following every path would be
    12! walks; each folder is followed through one link only."""
    top = tmp_path / "web"
    names = [f"d{i:02}" for i in range(12)]
    for name in names:
        (top / name).mkdir(parents=True)
        (top / name / "f.txt").write_text(name)
    for name in names:
        for other in names:
            if other != name:
                (top / name / f"to-{other}").symlink_to(f"../{other}")
    files, skipped = walk_folder(str(top))
    assert len(files) <= 2 * len(names) ** 2 and {f"{n}/f.txt" for n in names} <= set(files)
    assert {why for _, why in skipped} <= {ANCESTOR, AGAIN}


def test_a_dangling_link_inside_a_folder_is_kept_so_reading_it_names_it(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    (top / "a.txt").write_text("a")
    (top / "dead").symlink_to(tmp_path / "nowhere")
    assert walk_folder(str(top)) == (["a.txt", "dead"], [])
    with pytest.raises(FileNotFoundError, match="dead"):
        hash_folder(str(top))
