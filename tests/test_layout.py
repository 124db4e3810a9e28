"""The code's shape, checked: module and function sizes, import rules, the public surface."""

import ast
import subprocess
import sys
from pathlib import Path

import threadline

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "threadline"
PLUGINS = ROOT / "plugins"

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


def test_public_surface_is_pinned_and_sorted():
    assert threadline.__all__ == sorted(threadline.__all__)
    assert threadline.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(threadline, name) is not None


def test_module_sizes():
    too_big = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in sources(CORE)
        if (n := len(p.read_text().splitlines())) > 800
    ]
    too_big += [
        f"{p.relative_to(ROOT)}: {n}"
        for p in sources(PLUGINS)
        if (n := len(p.read_text().splitlines())) > 400
    ]
    assert too_big == []


def test_function_sizes():
    long_ones = []
    for path in sources(CORE) + sources(PLUGINS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > 60:
                    long_ones.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long_ones == []


def _call_time_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (
                inner.level > 0 or (inner.module or "").startswith("threadline")
            ):
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
            if isinstance(inner, ast.Import) and any(
                a.name.startswith("threadline") for a in inner.names
            ):
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


def test_no_call_time_imports_of_threadline():
    found = [hit for p in sources(CORE) + sources(PLUGINS) for hit in _call_time_imports(p)]
    assert found == []


def test_plugins_use_public_api_only():
    offenders = []
    for path in sources(PLUGINS):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.startswith("threadline")
                and any(part.startswith("_") for part in n.split(".")[1:])
            ]
    assert offenders == []


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
