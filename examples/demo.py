"""threadline in one minute: track a script, save artifacts, see versions and lineage.

Runs on the embedded default instance (SQLite + a storage folder under your user data
directory; override with THREADLINE_HOME). Run it twice: the second run finds the same
content and creates no new versions, only a new run.
"""

import tempfile
from pathlib import Path

import threadline as tl


@tl.step()
def clean(raw: tl.Artifact, min_length: int = 4) -> tl.Artifact:
    """Keep the reads that are long enough."""
    reads = [line for line in raw.load().splitlines() if len(line) >= min_length]
    out = Path(tempfile.mkdtemp()) / "clean.txt"
    out.write_text("\n".join(reads) + "\n")
    return tl.Artifact(out, key="demo/clean.txt", description="filtered reads").save()


@tl.step()
def summarize(cleaned: tl.Artifact) -> tl.Artifact:
    reads = cleaned.load().split()
    out = Path(tempfile.mkdtemp()) / "report.json"
    out.write_text(f'{{"n_reads": {len(reads)}, "gc": {gc_content(reads):.3f}}}\n')
    return tl.Artifact(out, key="demo/report.json", kind="report").save()


def gc_content(reads: list[str]) -> float:
    bases = "".join(reads)
    return sum(base in "GC" for base in bases) / max(len(bases), 1)


def main() -> None:
    run = tl.track(params={"min_length": 4, "api_token": "not-stored"}, project="demo")
    work = Path(tempfile.mkdtemp())
    raw_path = work / "reads.txt"
    raw_path.write_text("ACGT\nGGCCAA\nTT\n")
    raw_v1 = tl.Artifact(raw_path, key="demo/reads.txt").save()
    raw_path.write_text("ACGT\nGGCCAA\nTT\nGATTACA\n")  # new content under the same key
    raw = tl.Artifact(raw_path, key="demo/reads.txt").save()
    report = summarize(clean(raw))
    tl.finish()

    print(f"run {run.uid}: params stored as {run.params}")
    print(
        f"demo/reads.txt versions: {[v.version for v in raw.versions]} "
        f"(v{raw_v1.version} hash {raw_v1.hash[:12]}, v{raw.version} hash {raw.hash[:12]})"
    )
    print(f"report content: {report.load()}")
    print()
    report.describe()
    print()
    print(tl.lineage.render(report))


if __name__ == "__main__":
    main()
