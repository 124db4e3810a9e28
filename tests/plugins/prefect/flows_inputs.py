"""Flows for the input rule: parallel producers of equal content, raw inputs."""

import time
from pathlib import Path

from threadline.prefect import flow, task


@task
def write_csv(stem: str, text: str, pause: float) -> Path:
    time.sleep(pause)  # which of the two producers registers first varies
    path = Path(f"{stem}.csv")
    path.write_text(text)
    return path


@task
def read_csv(path: str) -> int:
    return len(Path(path).read_text())


@flow(name="equal-content")
def equal_content(round: int, by_future: bool = False) -> int:
    text = f"id,value\n{round},0\n"  # a new content every round, the same for both files
    a = write_csv.submit("raw_a", text, 0.02 * (round % 2))
    b = write_csv.submit("raw_b", text, 0.02 * (1 - round % 2))
    if by_future:
        return read_csv.submit(a, wait_for=[b]).result()
    return read_csv.submit("raw_a.csv", wait_for=[a, b]).result()


@task
def count_reads(reads: str, genome: Path) -> int:
    return Path(reads).read_text().count("\n") + Path(genome).read_text().count("\n")


@flow(name="raw-inputs")
def raw_inputs(reads: str, genome: Path) -> int:
    return count_reads(reads, genome)
