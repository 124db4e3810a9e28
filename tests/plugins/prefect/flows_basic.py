"""Flows used by the tests, in modules so that Dask workers can import them too."""

import os
from pathlib import Path

import threadline as tl
from threadline.prefect import flow, task


@task
def write_raw(name: str, n: int) -> Path:
    path = Path("data") / f"{name}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("x\n" + "".join(f"{i}\n" for i in range(n)))
    return path


@task
def double(raw: Path) -> str:
    lines = raw.read_text().splitlines()[1:]
    out = raw.with_name(raw.stem + "-doubled.csv")
    out.write_text("x\n" + "".join(f"{int(v) * 2}\n" for v in lines))
    return str(out)


@task
def total(doubled: str) -> int:
    return sum(int(v) for v in Path(doubled).read_text().splitlines()[1:])


@flow(name="three-steps")
def three_steps(name: str = "sample", n: int = 3, api_token: str = "hidden") -> int:
    raw = write_raw(name, n)
    doubled = double(raw)
    return total(doubled)


@task
def summarize(table: str, password: str) -> Path:
    out = Path("summary.txt")
    out.write_text(f"{len(Path(table).read_text().splitlines())} lines\n")
    return out


@flow(name="summarize-table")
def summarize_table(table: str) -> Path:
    return summarize(table, password="letmein")


@task
def report_inside() -> str:
    """Saves an artifact in its body: it belongs to this task's run."""
    Path("inside.txt").write_text(f"written by pid {os.getpid()}\n")
    tl.Artifact("inside.txt", key="reports/inside.txt").save()
    return "done"


@task(save_result=True, key_template="tables/{task}-{params[rows]}{suffix}")
def make_table(rows: int):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"i": range(rows), "sq": [i * i for i in range(rows)]})


@flow(name="body-and-table")
def body_and_table(rows: int = 4) -> str:
    make_table(rows)
    return report_inside()
