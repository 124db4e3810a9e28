"""The "all" extra is the union of the engine extras (kept in sync by hand, checked here)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_all_extra_is_union_of_engine_extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    engines = ("s3", "postgres", "tables", "prefect", "snakemake", "lightning", "mlflow")
    union = sorted({req for name in engines for req in extras[name]})
    assert sorted(extras["all"]) == union
    assert "torch==2.13.0" in extras["lightning"]  # the CPU wheel on disk, never a CUDA build
