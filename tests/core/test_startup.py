"""What a process pays to start: ``import threadline`` and its first query load only what
they use (issue 17: the start is measured against ``import peewee``; bench/README.md).

Each check runs a fresh interpreter, as a user's script starts. The modules pinned here
were taken off the first query's path on purpose; if one comes back, the start costs that
much more again (typing: 12.5 M instructions as soon as one module imports it at run time,
so type-only imports go under ``if TYPE_CHECKING:``; pathlib with urllib.parse: 16 M;
shutil: 6 M; the write path of storage: 8 M; hashing's file and folder functions: 5.8 M;
random, needed for the first uid only: 2.8 M).
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadline import _config

FIRST_QUERY = "import threadline as tl; tl.Artifact.filter().count()"
NOT_ON_THE_PATH = [
    "typing",
    "dataclasses",
    "pathlib",
    "urllib.parse",
    "shutil",
    "getpass",
    "random",
    "tomllib",
    "platformdirs",
    "concurrent.futures",
    "threadline.storage._objects",
    "threadline.hashing",
    "threadline._wiring",
    "threadline.saving",
    "threadline.lineage",
    "pandas",
    "fsspec",
]


def loaded_after(statement: str, candidates: list[str], env: dict[str, str]) -> list[str]:
    code = f"import sys; {statement}; print([m for m in {candidates!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_first_query_on_the_embedded_instance_loads_only_what_it_uses(isolated: Path) -> None:
    env = dict(os.environ)
    assert loaded_after(FIRST_QUERY, NOT_ON_THE_PATH, env) == []
    # the instance really opened: the database file is where the default puts it
    assert (Path(env["THREADLINE_HOME"]) / "threadline.db").is_file()


def test_the_first_query_on_an_instance_from_the_environment_loads_only_what_it_uses(
    isolated: Path,
) -> None:
    env = {
        **os.environ,
        "THREADLINE_DB": f"sqlite:///{isolated / 'db' / 'threadline.db'}",
        "THREADLINE_STORAGE": str(isolated / "store"),
    }
    assert loaded_after(FIRST_QUERY, NOT_ON_THE_PATH, env) == []
    assert (isolated / "db" / "threadline.db").is_file()


def test_a_cli_command_does_not_load_package_metadata(isolated: Path) -> None:
    # importlib.metadata (~18 ms) is for plugin command groups and cached steps' package
    # versions only: a built-in command runs without it, and a plugin group still loads
    command = "from threadline.cli import main; main(['ls'], standalone_mode=False)"
    assert loaded_after(command, ["importlib.metadata"], dict(os.environ)) == []
    plugin = "from threadline.cli import main; main(['nextflow', '--help'], standalone_mode=False)"
    assert loaded_after(plugin, ["importlib.metadata"], dict(os.environ)) == ["importlib.metadata"]


def test_a_project_file_is_still_found_from_a_subfolder(isolated: Path) -> None:
    """``find_project_file`` walks up with ``os.path`` now; it still hands back a Path."""
    (isolated / "threadline.toml").write_text('storage = "store"\ndb = "sqlite:///x.db"\n')
    deep = isolated / "a" / "b"
    deep.mkdir(parents=True)
    found = _config.find_project_file(deep)
    assert found == isolated.resolve() / "threadline.toml"
    assert isinstance(found, Path)
    assert _config.find_project_file(Path("/")) is None or Path("/threadline.toml").is_file()


@pytest.mark.parametrize(
    "text",
    ["a//b/./c/", "/", "//x/y", "///x", ".", "", "./a", "a/../b", "~/x/", "/a/b/"],
)
def test_folders_from_the_environment_read_as_pathlib_wrote_them(text: str) -> None:
    assert _config._pure(text) == str(Path(text))


def test_the_default_instance_resolves_as_before(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = isolated / "x" / ".." / "home//"
    monkeypatch.setenv("THREADLINE_HOME", str(home))
    settings = _config.resolve()
    assert settings.db == "sqlite:///" + str((Path(home) / "threadline.db").resolve())
    assert settings.storage == str((Path(home) / "storage").resolve())
    assert _config.home_dir() == Path(home)
    assert settings.source == "default"


def test_uids_are_drawn_afresh_in_a_forked_child() -> None:
    """``random`` loads with the first uid now; a forked child still reseeds, so parent
    and child never hand out the same uids."""
    from threadline.models import new_uid

    new_uid()  # the parent's generator exists before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_uid().encode())
        os._exit(0)
    os.close(write)
    parent = new_uid()
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == len(parent) == 16
    assert child != parent


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///file:x?mode=memory"])
def test_an_in_memory_database_is_refused_and_nothing_is_written(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Each connection to ``:memory:`` is another database (the background writer's
    too), and as a path it became a file named ':memory:' in the working directory."""
    import threadline as tl
    from threadline.errors import ConfigError

    with pytest.raises(ConfigError, match="is an in-memory database") as caught:
        tl.connect(url, str(isolated / "store"))
    assert "\n" not in str(caught.value) and "sqlite:////abs/path.db" in str(caught.value)
    monkeypatch.setenv("THREADLINE_DB", url)
    monkeypatch.setenv("THREADLINE_STORAGE", str(isolated / "store"))
    with pytest.raises(ConfigError, match="in-memory"):
        _config.resolve()
    assert list(isolated.iterdir()) == []


def test_settings_are_immutable_values_with_equality_hash_and_repr():
    settings = _config.Settings("sqlite:////x.db", "/data", None, "arguments")
    same = _config.Settings("sqlite:////x.db", "/data", None, "arguments")
    assert (
        settings == same
        and hash(settings) == hash(same)
        and settings.transport == _config.Transport()
    )
    assert settings != _config.Settings("sqlite:////y.db", "/data", None, "arguments")
    assert "db='sqlite:////x.db'" in repr(settings) and "retries=2" in repr(settings)
    with pytest.raises(AttributeError, match="immutable"):
        settings.db = "sqlite:////y.db"  # type: ignore[misc]
