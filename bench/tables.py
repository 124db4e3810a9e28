"""Tables benchmark: saving a validated DataFrame against writing and validating it by hand.

    python bench/tables.py [--rows 1000000] [--repeat 3]

On a fresh embedded instance (SQLite plus a local folder in a temporary folder), for a
frame of ``--rows`` rows (a categorical cell type, an integer, a float and a string
column), prints the median of ``--repeat`` runs of:

- threadline: ``tl.Artifact.from_dataframe(df, key=..., schema=schema).save()``: pandera
  validation of the features schema, parquet, full SHA-256, storage, the record, and the
  annotation (labels of the categorical column);
- baseline: ``df.to_parquet(path)`` plus ``validate(df, lazy=True)`` of the equivalent
  pandera ``DataFrameSchema`` (same dtypes, same allowed categories);

and their ratio (target <= 1.3). Each run changes one value, so each save stores new
content. Nothing here asserts.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import threadline as tl

CELL_TYPES = ["T cell", "B cell", "NK cell", "monocyte", "dendritic cell"]


def make_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(
                rng.integers(0, len(CELL_TYPES), rows), CELL_TYPES
            ),
            "n_genes": rng.integers(200, 5000, rows),
            "score": rng.random(rows),
            "donor": rng.choice(["D1", "D2", "D3", "D4"], rows),
        }
    )


def pandera_equivalent() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "cell_type": pa.Column(None, pa.Check.isin(CELL_TYPES)),
            "n_genes": pa.Column("int64"),
            "score": pa.Column("float64"),
            "donor": pa.Column(pd.Series([], dtype="str").dtype),
        },
        strict=True,
    )


def setup_instance() -> tl.Schema:
    for name in CELL_TYPES:
        tl.Label(name=name).save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int).save()
    tl.Feature(name="score", dtype=float).save()
    tl.Feature(name="donor", dtype=str).save()
    return tl.Schema(
        name="cells", features=["cell_type", "n_genes", "score", "donor"], maximal_set=True
    ).save()


def timed(action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ.update(
            THREADLINE_DB=f"sqlite:///{root / 'db' / 'threadline.db'}",
            THREADLINE_STORAGE=str(root / "storage"),
            THREADLINE_CACHE_DIR=str(root / "cache"),
        )
        tl.connect()
        schema = setup_instance()
        checks = pandera_equivalent()
        df = make_frame(args.rows)
        ours, theirs = [], []
        for i in range(args.repeat):
            df.loc[0, "n_genes"] = 10_000 + i  # new content: every save stores a new version

            def plain(i: int = i) -> None:
                df.to_parquet(root / f"plain-{i}.parquet")
                checks.validate(df, lazy=True)

            theirs.append(timed(plain))
            ours.append(
                timed(
                    lambda: tl.Artifact.from_dataframe(
                        df, key="bench/cells.parquet", schema=schema
                    ).save()
                )
            )
        tl.disconnect()
    mine, base = statistics.median(ours), statistics.median(theirs)
    print(f"rows: {args.rows:,}   repeats: {args.repeat}")
    print(f"threadline from_dataframe(schema=...).save(): {mine * 1000:8.1f} ms")
    print(f"df.to_parquet() + pandera validate():          {base * 1000:8.1f} ms")
    print(f"ratio: {mine / base:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
