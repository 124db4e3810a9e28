"""The code's shape, checked: module and function sizes, import rules, the public surface.

Sizes are measured on the code as ``ruff format`` writes it (a copy of the tree is
formatted), so that compressing a long function onto fewer lines does not pass. Each rule
is a function over one module's source text; the ``test_rule_*`` tests feed it small
synthetic sources to show that it does fail on what it forbids.
"""

import ast
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import threadline

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "threadline"
PLUGINS = ROOT / "plugins"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# what a plugin may import of threadline (besides its own package and other plugins' public
# packages): the package, the adapter API and the errors
PLUGIN_API = ("threadline", "threadline.adapters", "threadline.errors")
# a module path of threadline as text: what a dynamic import by dotted path names
THREADLINE_PATH = re.compile(r"^threadline(\.[\w.]+)?(:\w+)?$")

PUBLIC = [
    "Artifact",
    "Collection",
    "Feature",
    "Label",
    "Project",
    "Run",
    "Schema",
    "Storage",
    "Transform",
    "adapters",
    "caching",
    "connect",
    "context",
    "disconnect",
    "errors",
    "export",
    "finish",
    "flow",
    "init",
    "instance",
    "lineage",
    "maintenance",
    "register_loader",
    "save",
    "step",
    "track",
    "validate",
]


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def ruff() -> str:
    found = Path(sys.executable).with_name("ruff")
    path = str(found) if found.exists() else shutil.which("ruff")
    if path is None:
        pytest.skip("ruff is not installed (pip install -e .[dev]): sizes are measured after it")
    return path


def format_source(text: str) -> str:
    """``text`` as ``ruff format`` writes it, with the project's settings."""
    done = subprocess.run(
        [ruff(), "format", "--config", str(ROOT / "pyproject.toml"), "--stdin-filename", "x.py"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@functools.cache
def formatted_tree() -> dict[str, str]:
    """Every core and plugin module as ``ruff format`` writes it (a formatted copy)."""
    with tempfile.TemporaryDirectory() as folder:
        copies = {}
        for path in sources(CORE) + sources(PLUGINS):
            label = str(path.relative_to(ROOT))
            copy = Path(folder) / label
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text())
            copies[label] = copy
        config = ["--config", str(ROOT / "pyproject.toml"), "--no-cache", "--quiet"]
        subprocess.run([ruff(), "format", *config, folder], check=True)
        return {label: copy.read_text() for label, copy in copies.items()}


def tree(prefix: str) -> dict[str, str]:
    return {k: v for k, v in formatted_tree().items() if k.startswith(prefix)}


# -- the rules, each over one module's text ----------------------------------------------------


def module_too_long(label: str, text: str) -> list[str]:
    n = len(text.splitlines())
    return [f"{label}: {n} lines"] if n > MAX_MODULE_LINES else []


def long_functions(label: str, text: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{label}:{node.lineno} {node.name} ({length} lines)")
    return found


def _is_threadline(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "threadline"
    return any(a.name.split(".")[0] == "threadline" for a in node.names)


def call_time_imports(label: str, text: str, root: bool = False) -> list[str]:
    """``import threadline...`` (or a relative import) inside a function. The package root
    (``root``) may import its own submodules lazily, as ``from . import name`` only."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if not isinstance(inner, ast.Import | ast.ImportFrom) or not _is_threadline(inner):
                continue
            lazy = isinstance(inner, ast.ImportFrom) and inner.level == 1 and not inner.module
            if not (root and lazy):
                found.append(f"{label}:{inner.lineno} call-time import in {node.name}()")
    return found


def _module_strings(tree_: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` constants."""
    found = {}
    for node in tree_.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def dynamic_self_imports(label: str, text: str) -> list[str]:
    """``import_module``/``__import__`` of a threadline module: the argument is (or names a
    constant that is) ``"threadline..."`` or a relative path, or the module keeps dotted
    threadline paths as text for such a call (``{"x": "threadline.y:z"}``)."""
    parsed = ast.parse(text)
    constants = _module_strings(parsed)
    paths = [
        n.value
        for n in ast.walk(parsed)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and THREADLINE_PATH.match(n.value)
    ]
    found = []
    for node in ast.walk(parsed):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in ("import_module", "__import__") or not node.args:
            continue
        arg = node.args[0]
        text_arg = None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text_arg = arg.value
        elif isinstance(arg, ast.JoinedStr) and arg.values:
            first = arg.values[0]
            text_arg = first.value if isinstance(first, ast.Constant) else ""
        elif isinstance(arg, ast.Name):
            text_arg = constants.get(arg.id)
        own = text_arg is not None and (text_arg.startswith(("threadline", ".")))
        if own or (text_arg is None and paths):
            found.append(f"{label}:{node.lineno} {name}() of a threadline module")
    return found


def root_imports(label: str, text: str) -> list[str]:
    """``import threadline`` or ``from threadline import x`` inside the core: the package
    root is the top layer; core modules import the module they need."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import) and any(a.name == "threadline" for a in node.names):
            found.append(f"{label}:{node.lineno} import threadline")
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "threadline":
            found.append(f"{label}:{node.lineno} from threadline import ...")
    return found


def _plugin_package(label: str) -> tuple[str, int]:
    """(``threadline.<plugin>``, depth of the module's folder below the plugin's)."""
    parts = Path(label).relative_to("plugins").parts
    return f"threadline.{parts[0]}", len(parts) - 2


def _plugin_allows(module: str, own: str, plugins: set[str]) -> bool:
    if module in PLUGIN_API or module == own or module.startswith(own + "."):
        return True
    return module in plugins  # another plugin's public package, nothing below it


def plugin_imports(label: str, text: str, plugins: set[str] | None = None) -> list[str]:
    """A plugin imports peewee, or of threadline anything but ``threadline``,
    ``threadline.adapters``, ``threadline.errors`` (public names only), its own package and
    other plugins' public packages."""
    plugins = plugins if plugins is not None else {f"threadline.{p.name}" for p in plugin_dirs()}
    own, depth = _plugin_package(label)
    found = []
    for node in ast.walk(ast.parse(text)):
        modules: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.Import):
            modules = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level > 0:
                if node.level - 1 <= depth:
                    continue  # inside its own package
                base = ".".join(filter(None, ["threadline", base]))
            modules = [(base, [a.name for a in node.names])]
        for module, names in modules:
            if module.split(".")[0] == "peewee":
                found.append(f"{label}:{node.lineno} imports peewee")
            elif module.split(".")[0] == "threadline" and not (
                _plugin_allows(module, own, plugins)
                and (module == own or module.startswith(own + ".") or not _private(names))
            ):
                shown = f"{module} ({', '.join(names)})" if names else module
                found.append(f"{label}:{node.lineno} imports {shown}")
    return found


def _private(names: list[str]) -> bool:
    return any(n.startswith("_") for n in names)


def plugin_dirs() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if (p / "__init__.py").exists())


# -- the tree obeys them -------------------------------------------------------------------


def test_public_surface_is_pinned_and_sorted():
    assert threadline.__all__ == sorted(threadline.__all__)
    assert threadline.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(threadline, name) is not None


def test_module_sizes():
    assert [
        hit for label, text in formatted_tree().items() for hit in module_too_long(label, text)
    ] == []


def test_function_sizes():
    assert [
        hit for label, text in formatted_tree().items() for hit in long_functions(label, text)
    ] == []


def test_no_call_time_imports_of_threadline():
    root = str((CORE / "__init__.py").relative_to(ROOT))
    found = [
        hit
        for label, text in formatted_tree().items()
        for hit in call_time_imports(label, text, root=label == root)
    ]
    assert found == []


def test_no_dynamic_or_package_root_imports_in_the_core():
    core = tree("core/")
    root = str((CORE / "__init__.py").relative_to(ROOT))
    found = [hit for label, text in core.items() for hit in dynamic_self_imports(label, text)]
    found += [
        hit for label, text in core.items() if label != root for hit in root_imports(label, text)
    ]
    assert found == []


def test_plugins_use_the_public_api_only():
    assert [
        hit for label, text in tree("plugins/").items() for hit in plugin_imports(label, text)
    ] == []


# -- each rule fails on what it forbids --------------------------------------------------------


def test_rule_module_size_counts_lines_as_ruff_format_writes_them():
    fine = "".join(f"X{i} = {i}\n" for i in range(MAX_MODULE_LINES))
    assert module_too_long("m.py", format_source(fine)) == []
    # one long line that ruff format splits: short as written, too long formatted
    packed = fine + "Y = f(" + ", ".join(f"argument_{i}" for i in range(20)) + ")\n"
    assert len(packed.splitlines()) == MAX_MODULE_LINES + 1
    assert module_too_long("m.py", format_source(packed)) == ["m.py: 422 lines"]


def test_rule_function_size():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    assert long_functions("m.py", f"def f():\n{body}") == []
    too_long = f"async def g():\n{body}    return 1\n"
    assert long_functions("m.py", too_long) == ["m.py:1 g (61 lines)"]
    packed = "def h():\n    return f(" + ", ".join(f"a{i}" for i in range(400)) + ")\n"
    assert long_functions("m.py", packed) == []  # one line as written...
    assert long_functions("m.py", format_source(packed)) != []  # ...many once formatted


@pytest.mark.parametrize(
    "statement",
    [
        "import threadline",
        "from threadline import lineage",
        "from .. import models",
        "from ._x import y",
    ],
)
def test_rule_call_time_import(statement):
    text = f"def f():\n    {statement}\n"
    assert call_time_imports("m.py", text) == ["m.py:2 call-time import in f()"]
    assert call_time_imports("m.py", f"{statement}\n") == []  # at import time: fine


def test_rule_call_time_import_root_may_load_submodules_lazily():
    lazy = "def __getattr__(name):\n    from . import _wiring\n"
    assert call_time_imports("core/threadline/__init__.py", lazy, root=True) == []
    assert call_time_imports("core/threadline/x.py", lazy) != []
    deeper = "def f():\n    from .models import Artifact\n"
    assert call_time_imports("core/threadline/__init__.py", deeper, root=True) != []


@pytest.mark.parametrize(
    "text",
    [
        'import importlib\nimportlib.import_module("threadline._instance")\n',
        'from importlib import import_module\ndef f():\n    import_module(f"threadline.{x}")\n',
        '_M = "threadline._instance"\ndef f():\n    importlib.import_module(_M)\n',
        'LAZY = {"save": "threadline.saving:save"}\n'
        "def f(n):\n    importlib.import_module(LAZY[n].partition(':')[0])\n",
        'def f():\n    __import__(".models", globals(), level=1)\n',
    ],
)
def test_rule_dynamic_self_import(text):
    assert len(dynamic_self_imports("m.py", text)) == 1


def test_rule_dynamic_import_of_other_modules_is_fine():
    text = 'import importlib\ndef f(n):\n    return importlib.import_module("pandas")\n'
    assert dynamic_self_imports("m.py", text) == []


@pytest.mark.parametrize(
    "text", ["import threadline\n", "import threadline as tl\n", "from threadline import lineage\n"]
)
def test_rule_package_root_import_in_core(text):
    assert len(root_imports("core/threadline/models/x.py", text)) == 1


def test_rule_core_submodule_imports_are_fine():
    text = "from . import _context\nfrom ..errors import InvalidInput\nimport threadline.errors\n"
    assert root_imports("core/threadline/models/x.py", text) == []


PLUGINS_SEEN = {"threadline.prefect", "threadline.mlflow"}


@pytest.mark.parametrize(
    "text",
    [
        "import peewee\n",
        "from peewee import Case\n",
        "from threadline import _context\n",
        "import threadline._context\n",
        "from threadline.models import Artifact\n",
        "from threadline.hashing import hash_file\n",
        "from threadline.adapters import _files\n",
        "from threadline.mlflow._link import link\n",
        "from .. import _context\n",  # above the plugin: threadline itself
        "from ..models import Artifact\n",
    ],
)
def test_rule_plugin_imports_refused(text):
    found = plugin_imports("plugins/prefect/_hooks.py", text, PLUGINS_SEEN)
    assert len(found) == 1, found


@pytest.mark.parametrize(
    "text",
    [
        "import threadline as tl\n",
        "from threadline import adapters, errors\n",
        "from threadline.adapters import Output\n",
        "from threadline.errors import InvalidInput\n",
        "from threadline.prefect import _hooks\n",  # its own package
        "from . import _guard\n",
        "from ._values import canonical\n",
        "import threadline.mlflow\n",  # another plugin's public package
        "import prefect\n",
    ],
)
def test_rule_plugin_imports_allowed(text):
    assert plugin_imports("plugins/prefect/_hooks.py", text, PLUGINS_SEEN) == []


def test_rule_plugin_relative_imports_inside_subpackages():
    label = "plugins/snakemake/discovery/pkg/__init__.py"
    assert plugin_imports(label, "from .. import x\n", {"threadline.snakemake"}) == []
    assert plugin_imports(label, "from .... import _context\n", {"threadline.snakemake"}) != []


# -- what importing costs ------------------------------------------------------------------


def modules_loaded_by(statement: str, candidates: list[str]) -> list[str]:
    """Which of ``candidates`` a fresh interpreter has imported after ``statement``."""
    code = f"import sys; {statement}; print([m for m in {candidates!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip())  # type: ignore[no-any-return]


def test_import_is_cheap():
    heavy = [
        "peewee",
        "pandas",
        "fsspec",
        "s3fs",
        "click",
        "yaml",
        "pyarrow",
        "anndata",
        "pandera",
        "rich",
        "prefect",
        "snakemake",
        "torch",
        "lightning",
        "mlflow",
        "sqlite3",
    ]
    assert modules_loaded_by("import threadline", heavy) == []


def test_plugin_homes_import_without_their_engines():
    statement = (
        "import threadline.prefect, threadline.snakemake, threadline.lightning, "
        "threadline.mlflow, threadline.nextflow"
    )
    engines = ["prefect", "snakemake", "torch", "mlflow"]
    assert modules_loaded_by(statement, engines) == []
