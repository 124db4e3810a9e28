"""Every save route gives the same records, errors and storage contents.

Routes: ``Artifact(...).save()`` one by one, ``tl.save([...])`` and, for plain paths,
``adapters.register_outputs``. Cases: a plain file, a folder, a DataFrame, an AnnData, a
file that passes its schema, one that fails it, a bad feature value, the same content
twice. Each route runs on a fresh instance of the backend under test (a new database and
storage root of the same kind), and the results are compared route against route.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import peewee
import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidFeatureValue, ThreadlineError, ValidationError
from threadline.hashing import sha256_bytes

from tests.harness import write


@dataclass
class Entry:
    """One thing to save: a path, or an in-memory object (``frame``/``adata``)."""

    key: str | None
    path: Path | None = None
    frame: pd.DataFrame | None = None
    adata: ad.AnnData | None = None
    schema: str | None = None
    features: dict[str, Any] = field(default_factory=dict)

    def artifact(self) -> tl.Artifact:
        schema = tl.Schema.get(name=self.schema) if self.schema else None
        if self.frame is not None:
            return tl.Artifact.from_dataframe(self.frame, key=self.key, schema=schema)
        if self.adata is not None:
            return tl.Artifact.from_anndata(self.adata, key=self.key)
        return tl.Artifact(self.path, key=self.key, schema=schema)


def save_one_by_one(entries: list[Entry]) -> list[tl.Artifact]:
    return [e.artifact().save() for e in entries]


def save_together(entries: list[Entry]) -> list[tl.Artifact]:
    return tl.save([e.artifact() for e in entries])


def register_outputs(entries: list[Entry]) -> list[tl.Artifact]:
    outputs = [adapters.Output(str(e.path), key=e.key, features=e.features) for e in entries]
    return adapters.register_outputs(None, outputs, create_features=False)


ROUTES: dict[str, Callable[[list[Entry]], list[tl.Artifact]]] = {
    "Artifact.save": save_one_by_one,
    "tl.save": save_together,
    "register_outputs": register_outputs,
}


def frame() -> pd.DataFrame:
    return pd.DataFrame({"cell_type": ["T", "B", "T"], "count": [3, 5, 8]})


def cells() -> ad.AnnData:
    obs = pd.DataFrame({"cell_type": ["T", "B"]}, index=["c1", "c2"])
    return ad.AnnData(np.arange(6, dtype="float32").reshape(2, 3), obs=obs)


def folder(base: Path) -> Path:
    write(base / "dir" / "one.txt", "one")
    write(base / "dir" / "sub" / "two.txt", "two")
    return base / "dir"


# case -> (entries for one call, calls made, routes it applies to)
Case = Callable[[Path], tuple[list[Entry], int, tuple[str, ...]]]
ALL = tuple(ROUTES)
SCHEMA_ROUTES = ("Artifact.save", "tl.save")  # register_outputs takes no schema
CASES: dict[str, Case] = {
    "plain file": lambda d: ([Entry("m/a.txt", write(d / "a.txt", "hello"))], 1, ALL),
    "folder": lambda d: ([Entry("m/dir", folder(d))], 1, ALL),
    "DataFrame": lambda d: ([Entry("m/t.parquet", frame=frame())], 1, SCHEMA_ROUTES),
    "AnnData": lambda d: ([Entry("m/c.h5ad", adata=cells())], 1, SCHEMA_ROUTES),
    "schema passes": lambda d: (
        [
            Entry("m/ok.csv", write(d / "ok.csv", "cell_type,count\nT,3\nB,5\n"), schema="qc"),
            Entry("m/ok.parquet", frame=frame(), schema="qc"),
        ],
        1,
        SCHEMA_ROUTES,
    ),
    "schema fails": lambda d: (
        [Entry("m/bad.csv", write(d / "bad.csv", "cell_type\nT\nX\n"), schema="qc")],
        1,
        SCHEMA_ROUTES,
    ),
    "bad feature value": lambda d: (
        [Entry("m/v.csv", write(d / "v.csv", "cell_type,count\nT,many\n"), schema="qc")],
        1,
        SCHEMA_ROUTES,
    ),
    "bad feature value (adapter)": lambda d: (
        [Entry("m/v.txt", write(d / "v.txt", "x"), features={"count": "many"})],
        1,
        ("register_outputs",),
    ),
    "same content twice": lambda d: (
        [
            Entry("m/a.txt", write(d / "a.txt", "same")),
            Entry(None, write(d / "b.txt", "same")),
            Entry(None, write(d / "c.txt", "same")),
        ],
        2,
        ALL,
    ),
}


def setup_annotations() -> None:
    """What every fresh instance holds before saving: features, labels, a schema."""
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="count", dtype=int).save()
    for name in ("T", "B"):
        tl.Label(name=name).save()
    tl.Schema(name="qc", features=["cell_type", "count"]).save()


def fresh_instance(inst: Any, route: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A new database and storage root of the same kinds as ``inst``'s."""
    name = f"r{uuid.uuid4().hex[:10]}"
    if inst.settings.db.startswith("sqlite"):
        db = f"sqlite:///{tmp_path / name / 'threadline.db'}"
    else:
        db = request.getfixturevalue("postgres").create_database(name)
    storage = inst.settings.storage
    storage = f"{storage}-{name}" if "://" in storage else str(tmp_path / name / "storage")
    return tl.connect(db=db, storage=storage)


def snapshot(inst: Any) -> dict[str, Any]:
    """The records (without uids, ids and times), their annotations, stored objects."""
    records = []
    for a in tl.Artifact.filter(visibility__in=["main", "trash"]).order_by("id"):
        fields = a.to_dict()
        for name in ("uid", "created_at", "storage", "run"):
            fields.pop(name)
        fields["schema"] = a.schema.name if a.schema_id else None
        fields["features"] = a.features.get_values()
        fields["labels"] = [label.name for label in a.labels]
        records.append(fields)
    stored = {
        path: (inst.backend.info(path) or {}).get("size")
        for path in inst.backend.list("")
        if not path.startswith(".threadline/tmp/")
    }
    return {"records": records, "stored": stored}


def run_route(route: str, case: Case, base: Path) -> tuple[Any, list[list[str]]]:
    entries, calls, _ = case(base)
    uids = []
    try:
        for _ in range(calls):
            uids.append([a.uid for a in ROUTES[route](entries)])
    except ThreadlineError as exc:
        return (type(exc).__name__, str(exc)), uids
    return None, uids


@pytest.mark.parametrize("case_name", list(CASES))
def test_every_route_saves_alike(instance, tmp_path, request, case_name):
    case = CASES[case_name]
    routes = case(tmp_path / "probe")[2]
    results = {}
    for route in routes:
        inst = fresh_instance(instance, route, tmp_path, request)
        setup_annotations()
        error, uids = run_route(route, case, tmp_path / route.replace(".", "_"))
        results[route] = (error, snapshot(inst), uids)
    first, *others = routes
    for route in others:
        assert results[route][:2] == results[first][:2], f"{route} differs from {first}"
    expect_case(case_name, results[first], results)


def expect_case(case_name: str, first: Any, results: dict[str, Any]) -> None:
    """What each case must give (beyond being the same on every route)."""
    error, state, _ = first
    records, stored = state["records"], state["stored"]
    if case_name in ("schema fails", "bad feature value", "bad feature value (adapter)"):
        expected = InvalidFeatureValue if "adapter" in case_name else ValidationError
        assert error is not None and error[0] == expected.__name__
        assert "\n" not in error[1] and ("count" in error[1] or "cell_type" in error[1])
        assert records == [] and stored == {}  # nothing written, nothing stored
        return
    assert error is None
    objects = [p for p in stored if p.startswith(".threadline/objects/")]
    if case_name == "same content twice":
        for _, _, route_uids in results.values():
            assert route_uids[0] == route_uids[1]  # the second call finds the same records
            assert route_uids[0][1] == route_uids[0][2]  # keyless: one record per content
        assert [(r["key"], r["version"]) for r in records] == [("m/a.txt", 1), (None, 1)]
        assert len(objects) == 1  # one object for the one content
        return
    assert all(r["version"] == 1 and r["is_latest"] for r in records)
    for record in records:  # every record's object is stored (a folder: files below it)
        assert any(p == record["path"] or p.startswith(record["path"] + "/") for p in stored)
    if case_name == "folder":
        assert records[0]["kind"] == "folder" and records[0]["n_files"] == 2
    if case_name in ("DataFrame", "AnnData"):
        assert records[0]["otype"] == case_name and records[0]["n_observations"] in (2, 3)
    if case_name == "schema passes":
        assert [r["schema"] for r in records] == ["qc", "qc"]
        assert all(r["labels"] == ["B", "T"] for r in records)


@pytest.mark.parametrize("route", ["Artifact.save", "tl.save"])
def test_a_save_whose_transaction_fails_leaves_it_unsaved(local_instance, isolated, route):
    """A database fault after the records were inserted (the annotation write refused, for
    real, by a trigger) rolls the transaction back: the artifacts keep no id, version or
    schema of rows that do not exist, and saving them again writes them."""
    setup_annotations()
    db = tl.Artifact._meta.database
    db.execute_sql(
        "CREATE TRIGGER refuse_values BEFORE INSERT ON artifact_feature_value "
        "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
    )
    schema = tl.Schema(name="new", features=["cell_type"])  # saved with the records
    entries = [
        tl.Artifact.from_dataframe(frame().drop(columns="count"), key="m/t.parquet", schema=schema),
        tl.Artifact(write(isolated / "b.txt", "b"), key=None),
        tl.Artifact(write(isolated / "c.txt", "b"), key=None),
    ]
    save = (lambda: [a.save() for a in entries]) if route == "Artifact.save" else None
    with pytest.raises(peewee.IntegrityError, match="disk is full"):  # RAISE in a trigger
        save() if save else tl.save(entries)
    assert tl.Artifact.filter().count() == 0 and tl.Schema.filter(name="new").count() == 0
    assert [a.id for a in entries] == [None, None, None] and schema.id is None
    db.execute_sql("DROP TRIGGER refuse_values")
    saved = [a.save() for a in entries] if route == "Artifact.save" else tl.save(entries)
    assert [(a.key, a.version) for a in saved] == [("m/t.parquet", 1), (None, 1), (None, 1)]
    assert tl.Artifact.filter().count() == 2  # b.txt and c.txt: one content, one record
    record = tl.Artifact.get(key="m/t.parquet")
    assert record.schema.name == "new" and record.features.get_values() == {"cell_type": ["B", "T"]}


@pytest.mark.parametrize("together", [False, True], ids=["two saves", "one tl.save"])
def test_a_file_is_never_the_folder_whose_hash_it_shares(instance, isolated, together):
    """A folder's hash is SHA-256 over '<path>\\t<file hash>\\n' lines, so a file holding
    exactly those lines has the same hash: it must still be its own (keyless) artifact."""
    one = write(isolated / "dir" / "one.txt", "1").parent
    lookalike = isolated / "lookalike.txt"
    lookalike.write_bytes(f"one.txt\t{sha256_bytes(b'1')}\n".encode())
    artifacts = [tl.Artifact(one, key=None), tl.Artifact(lookalike, key=None)]
    folder, file = tl.save(artifacts) if together else [a.save() for a in artifacts]
    assert folder.hash == file.hash and folder.uid != file.uid
    assert (folder.kind, folder.n_files, file.kind, file.n_files) == ("folder", 1, "file", None)
    assert file.load() == "one.txt\t" + sha256_bytes(b"1") + "\n"
    again = tl.Artifact(lookalike, key=None).save()
    assert again.uid == file.uid and tl.Artifact.filter().count() == 2
