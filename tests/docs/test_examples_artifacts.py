"""Examples of docs/artifacts.md (and the tour in docs/index.md), run for real.

The code between ``# -- start NAME --`` and ``# -- end NAME --`` appears verbatim in the
docs after ``<!-- example: NAME -->``; tests/docs/test_docs.py checks that they match.
"""

import hashlib
import json
from pathlib import Path

import pytest
import threadline as tl

from tests.harness import write


def test_tour(local_instance, isolated):
    write("reads.fasta", ">r1\nACGTACGTAC\n>r2\nACG\n")
    # -- start tour --
    from pathlib import Path

    import threadline as tl

    raw = tl.Artifact("reads.fasta", key="raw/reads.fasta").save()

    @tl.step()
    def keep_long(reads: tl.Artifact, min_length: int = 4) -> tl.Artifact:
        lines = reads.load().splitlines()  # read inside a run: recorded as an input
        pairs = zip(lines[::2], lines[1::2], strict=True)
        kept = [f"{name}\n{seq}\n" for name, seq in pairs if len(seq) >= min_length]
        Path("long.fasta").write_text("".join(kept))
        return tl.Artifact("long.fasta", key="clean/reads.fasta").save()

    clean = keep_long(raw)

    tl.Feature(name="sample", dtype=str).save()
    clean.features.add_values({"sample": "S1"})

    found = tl.Artifact.filter(sample="S1", key__startswith="clean/").to_dataframe()
    upstream = tl.lineage.upstream(clean)
    assert [a.key for a in upstream.artifacts] == ["raw/reads.fasta"]
    # -- end tour --
    assert list(found["key"]) == ["clean/reads.fasta"]
    assert clean.load() == ">r1\nACGTACGTAC\n"
    assert clean.run.params == {"reads": "Artifact(raw/reads.fasta)", "min_length": 4}
    assert [r.uid for r in upstream.runs] == [clean.run.uid]


def test_save(local_instance, isolated):
    write("reads.fasta", ">r1\nACGTACGT\n")
    # -- start artifact-save --
    import threadline as tl

    reads = tl.Artifact(
        "reads.fasta", key="raw/reads.fasta", description="sample S1, lane 1"
    ).save()
    assert (reads.key, reads.version, reads.suffix) == ("raw/reads.fasta", 1, ".fasta")
    assert reads.size == 13 and len(reads.hash) == 64  # bytes; full-content SHA-256
    print(reads.uid)  # 16 characters, e.g. 'Xq3vP0aL9sT2mNc8': names this version
    # -- end artifact-save --
    assert reads.kind == "file" and reads.description == "sample S1, lane 1"
    assert reads.hash == hashlib.sha256(b">r1\nACGTACGT\n").hexdigest()
    assert reads.run is None  # saved outside any run
    assert reads.uri.endswith(reads.path) and reads.path.startswith(".threadline/objects/")


def test_versions(local_instance, isolated):
    # -- start artifact-versions --
    from pathlib import Path

    Path("samples.csv").write_text("id\nS1\n")
    v1 = tl.Artifact("samples.csv", key="meta/samples.csv").save()
    again = tl.Artifact("samples.csv", key="meta/samples.csv").save()
    assert again.uid == v1.uid  # same key, same content: the same artifact

    Path("samples.csv").write_text("id\nS1\nS2\n")
    v2 = tl.Artifact("samples.csv", key="meta/samples.csv").save()
    assert v2.version == 2 and v2.is_latest

    latest = tl.Artifact.get(key="meta/samples.csv")  # the latest version
    first = tl.Artifact.get(key="meta/samples.csv", version=1)
    assert latest.uid == v2.uid and first.uid == v1.uid and not first.is_latest
    assert [a.version for a in latest.versions] == [1, 2]

    copy = tl.Artifact("samples.csv", key="meta/samples-copy.csv").save()
    assert copy.uid != v2.uid and copy.path == v2.path  # new record, shared object
    # -- end artifact-versions --
    assert Path(first.cache()).read_text() == "id\nS1\n"
    assert Path(latest.cache()).read_text() == "id\nS1\nS2\n"
    assert copy.version == 1


def test_invalid_key(local_instance, isolated):
    write("reads.fasta", ">r1\nA\n")
    # -- start artifact-bad-key --
    try:
        tl.Artifact("reads.fasta", key="../reads.fasta").save()
    except tl.errors.InvalidKey as err:
        print(err)  # invalid key '../reads.fasta': has a '..' segment
    # -- end artifact-bad-key --
    with pytest.raises(tl.errors.InvalidKey, match=r"has a '\.\.' segment"):
        tl.Artifact("reads.fasta", key="../reads.fasta").save()
    assert tl.Artifact.filter().count() == 0


def test_folder(local_instance, isolated):
    write("results/run42/counts.tsv", "gene\tcount\nTP53\t12\n")
    write("results/run42/plots/qc.txt", "ok")
    # -- start artifact-folder --
    results = tl.Artifact("results/run42", key="results/run42").save()
    assert (results.kind, results.n_files) == ("folder", 2)

    local = Path(results.cache())  # a folder with the same layout
    assert (local / "plots" / "qc.txt").read_text() == "ok"
    # -- end artifact-folder --
    assert (local / "counts.tsv").read_text().startswith("gene")
    assert tl.Artifact("results/run42", key="results/run42").save().uid == results.uid


def test_in_place(local_instance, isolated):
    # -- start artifact-in-place --
    root = Path(tl.instance().settings.storage)  # the storage root, here a local folder
    produced = root / "pipeline-output" / "counts.tsv"
    produced.parent.mkdir(parents=True, exist_ok=True)
    produced.write_text("gene\tcount\nTP53\t12\n")

    counts = tl.Artifact(produced, key="pipeline-output/counts.tsv").save()
    assert counts.in_place and counts.path == "pipeline-output/counts.tsv"  # not copied
    # -- end artifact-in-place --
    assert tl.instance().backend.list(".threadline/objects") == []
    counts.delete(permanent=True)
    assert produced.exists()  # in-place objects are never removed


def test_read(local_instance, isolated):
    write("params.json", json.dumps({"min_quality": 30}))
    tl.Artifact("params.json", key="config/params.json").save()
    # -- start artifact-read --
    params = tl.Artifact.get(key="config/params.json")

    assert params.load() == {"min_quality": 30}  # parsed, chosen by suffix
    path = params.cache()  # a local path to the content
    with params.open() as handle:  # a read-only binary file object
        assert handle.read(1) == b"{"
    # -- end artifact-read --
    assert json.loads(Path(path).read_text()) == {"min_quality": 30}
    with pytest.raises(tl.errors.InvalidInput, match="immutable"):
        params.open("w")


def test_register_loader(local_instance, isolated):
    write("peaks.bed", "chr17\t7661779\t7687538\tTP53\n")
    tl.Artifact("peaks.bed", key="regions/peaks.bed").save()
    # -- start artifact-loader --
    import csv

    def read_bed(path: str) -> list[tuple[str, int, int, str]]:
        with open(path, newline="") as handle:
            rows = csv.reader(handle, delimiter="\t")
            return [(chrom, int(start), int(end), name) for chrom, start, end, name in rows]

    tl.register_loader(".bed", read_bed)
    peaks = tl.Artifact.get(key="regions/peaks.bed").load()
    assert peaks == [("chr17", 7661779, 7687538, "TP53")]
    # -- end artifact-loader --
    assert tl.Artifact.get(key="regions/peaks.bed").load()[0][3] == "TP53"


def test_unknown_suffix(local_instance, isolated):
    write("model.bin", "weights")
    model = tl.Artifact("model.bin", key="models/model.bin").save()
    with pytest.raises(tl.errors.InvalidInput, match=r"no loader for suffix '\.bin'"):
        model.load()


def test_bulk_save(local_instance, isolated):
    for lane in (1, 2, 3):
        write(f"fastq/S1_L00{lane}.fastq", f"@r{lane}\nACGT\n+\nIIII\n")
    # -- start artifact-bulk --
    lanes = sorted(Path("fastq").glob("*.fastq"))
    saved = tl.save([tl.Artifact(p, key=f"raw/fastq/{p.name}") for p in lanes])
    assert [a.key for a in saved] == [
        "raw/fastq/S1_L001.fastq",
        "raw/fastq/S1_L002.fastq",
        "raw/fastq/S1_L003.fastq",
    ]
    # -- end artifact-bulk --
    again = tl.save([tl.Artifact(p, key=f"raw/fastq/{p.name}") for p in lanes])
    assert [a.uid for a in again] == [a.uid for a in saved]


def test_collection(local_instance, isolated):
    for lane in (1, 2):
        write(f"fastq/S1_L00{lane}.fastq", f"@r{lane}\nACGT\n+\nIIII\n")
        tl.Artifact(f"fastq/S1_L00{lane}.fastq", key=f"raw/fastq/S1_L00{lane}.fastq").save()
    # -- start artifact-collection --
    lanes = tl.Artifact.filter(key__startswith="raw/fastq/S1_").order_by("key").all()
    batch = tl.Collection(lanes, key="batches/S1").save()
    assert batch.version == 1
    assert [a.key for a in batch.artifacts] == [a.key for a in lanes]
    # -- end artifact-collection --
    assert tl.Collection(lanes, key="batches/S1").save().uid == batch.uid
    assert tl.Collection(lanes[:1], key="batches/S1").save().version == 2


def test_delete_restore_gc(local_instance, isolated):
    write("reads.fasta", ">r1\nACGT\n")
    tl.Artifact("reads.fasta", key="raw/reads.fasta").save()
    # -- start artifact-delete --
    reads = tl.Artifact.get(key="raw/reads.fasta")
    reads.delete()  # to the trash: hidden from get() and filter()
    assert tl.Artifact.filter(key="raw/reads.fasta").count() == 0
    assert tl.Artifact.filter(visibility="trash").count() == 1

    reads.restore()  # back again
    assert tl.Artifact.get(key="raw/reads.fasta").uid == reads.uid

    reads.delete(permanent=True)  # the record, and the object unless another record shares it
    problems = tl.maintenance.check()  # every object present and matching its hash?
    assert problems == []
    summary = tl.maintenance.gc()  # empty the trash, remove unreferenced objects
    # -- end artifact-delete --
    assert summary == {
        "trash_purged": 0,
        "tombstones_kept": 0,
        "objects_removed": 0,
        "records_forgotten": 0,
    }
    assert not tl.instance().backend.exists(reads.path)
