"""Tables and single-cell data on disk: writing, describing, loading and opening lazily.

- ``write_object``: a DataFrame as parquet (pyarrow), an AnnData as ``.h5ad`` or a
  ``.zarr`` folder, into a scratch folder, ready to be hashed and stored;
- ``describe_file``: the ``otype`` a suffix means and, where the format keeps it in its
  metadata (parquet footer, h5ad/zarr ``obs`` index), the number of observations;
- loaders for ``Artifact.load()`` and lazy handles for ``Artifact.open()``: a pyarrow
  dataset for parquet, a backed AnnData for h5ad, a zarr group for zarr, on local disk
  or S3.

pandas, pyarrow, anndata, h5py and zarr are imported inside the functions that use them.
"""

from __future__ import annotations

import json
import os

from .errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

OTYPES = {
    ".parquet": "DataFrame",
    ".csv": "DataFrame",
    ".tsv": "DataFrame",
    ".h5ad": "AnnData",
    ".zarr": "AnnData",
}
ANNDATA_FORMATS = ("h5ad", "zarr")


def object_type(data: Any) -> str:
    """``DataFrame`` or ``AnnData``; anything else is refused."""
    kind = type(data)
    if kind.__name__ == "DataFrame" and kind.__module__.startswith("pandas"):
        return "DataFrame"
    if kind.__name__ == "AnnData" and kind.__module__.startswith("anndata"):
        return "AnnData"
    raise InvalidInput(f"expected a pandas DataFrame or an AnnData, got {kind.__name__}")


def write_object(data: Any, folder: str, fmt: str) -> str:
    """Write ``data`` under ``folder`` as ``fmt`` (parquet, h5ad, zarr); returns the path."""
    if fmt == "parquet":
        path = os.path.join(folder, "data.parquet")
        data.to_parquet(path)
        return path
    if fmt in ANNDATA_FORMATS:
        path = os.path.join(folder, f"data.{fmt}")
        _write_anndata(data, path, fmt)
        return path
    raise InvalidInput(f"unknown format {fmt!r}: use parquet, h5ad or zarr")


def _write_anndata(adata: Any, path: str, fmt: str) -> None:
    """Write through anndata, with pandas' arrow-backed strings as plain object strings
    (anndata 0.12 cannot write those yet); the caller's object is left as it was."""
    if adata.is_view:
        adata = adata.copy()
    obs, var = adata.obs, adata.var
    try:
        adata.obs, adata.var = _plain_strings(obs), _plain_strings(var)
        if fmt == "h5ad":
            adata.write_h5ad(path)
        else:
            adata.write_zarr(path)
    finally:
        adata.obs, adata.var = obs, var


def _plain_strings(frame: Any) -> Any:
    """A shallow copy whose string index, columns and categories hold Python strings."""
    import pandas as pd

    def plain(index: Any) -> Any:
        return index.astype(object) if isinstance(index.dtype, pd.StringDtype) else index

    frame = frame.copy(deep=False)
    frame.index = plain(frame.index)
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.StringDtype):
            frame[name] = frame[name].astype(object)
        elif isinstance(dtype, pd.CategoricalDtype) and isinstance(
            dtype.categories.dtype, pd.StringDtype
        ):
            frame[name] = frame[name].astype(
                pd.CategoricalDtype(plain(dtype.categories), ordered=dtype.ordered)
            )
    return frame


def anndata_format(fmt: str | None, key: str | None) -> str:
    """The AnnData format from ``format=`` or the key's suffix (default h5ad)."""
    if fmt is None and key is not None and key.endswith(".zarr"):
        return "zarr"
    chosen = fmt or "h5ad"
    if chosen not in ANNDATA_FORMATS:
        raise InvalidInput(f"AnnData format must be 'h5ad' or 'zarr', not {chosen!r}")
    return chosen


# -- what a file is ----------------------------------------------------------------------------


def describe_file(path: str, suffix: str) -> tuple[str | None, int | None]:
    """(otype, n_observations) from the suffix and cheap metadata; never raises.

    A file that cannot be read as its suffix says is still a file: it is stored all the
    same, with ``n_observations`` unknown.
    """
    otype = OTYPES.get(suffix.lower())
    if otype is None:
        return None, None
    try:
        return otype, _count(path, suffix.lower())
    except Exception:  # a damaged or mislabelled file: store it, count unknown
        return otype, None


def _count(path: str, suffix: str) -> int | None:
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    if suffix == ".h5ad":
        import h5py

        with h5py.File(path, "r") as handle:
            obs = handle["obs"]
            index = obs[obs.attrs.get("_index", "_index")]
            return int(index.shape[0])
    if suffix == ".zarr":
        from pathlib import Path  # not at import: opening an instance never needs it

        return _zarr_obs_count(Path(path))
    return None  # csv/tsv: counting means parsing the whole file; left unknown


def _zarr_obs_count(root: Path) -> int | None:
    """Rows of ``obs``, from the zarr metadata JSON alone (v2 or v3 layout)."""
    obs = root / "obs"
    attrs = _json(obs / ".zattrs") or (_json(obs / "zarr.json") or {}).get("attributes", {})
    index = attrs.get("_index", "_index")
    meta = _json(obs / index / ".zarray") or _json(obs / index / "zarr.json")
    shape = (meta or {}).get("shape")
    return int(shape[0]) if shape else None


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


# -- loading (a local path) --------------------------------------------------------------------


def load_parquet(path: str) -> Any:
    import pandas as pd

    return pd.read_parquet(path)


def load_csv(path: str) -> Any:
    import pandas as pd

    return pd.read_csv(path)


def load_tsv(path: str) -> Any:
    import pandas as pd

    return pd.read_csv(path, sep="\t")


def load_h5ad(path: str) -> Any:
    import anndata

    return anndata.read_h5ad(path)


def load_zarr(path: str) -> Any:
    import anndata

    return anndata.read_zarr(path)


# -- lazy handles ------------------------------------------------------------------------------

LAZY_SUFFIXES = (".parquet", ".h5ad", ".zarr")


def open_parquet(local: str | None, fs: Any = None, remote: str | None = None) -> Any:
    """A pyarrow dataset: rows and columns are read only when asked for."""
    import pyarrow.dataset as ds

    if local is not None:
        return ds.dataset(local, format="parquet")
    return ds.dataset(remote, format="parquet", filesystem=_ranged(fs))


def _ranged(fs: Any) -> Any:
    """An fsspec filesystem for pyarrow, reading exactly the byte ranges pyarrow asks for.

    pyarrow already coalesces the column chunks it needs into few large reads; fsspec's
    default read-ahead cache would fetch whole blocks around each of them on top.
    """
    from pyarrow import PythonFile
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    class RangedReads(FSSpecHandler):  # type: ignore[misc]
        def open_input_file(self, path: str) -> Any:
            if not self.fs.isfile(path):
                raise FileNotFoundError(path)
            return PythonFile(self.fs.open(path, mode="rb", cache_type="none"), mode="r")

    return PyFileSystem(RangedReads(fs))


def open_h5ad(local: str) -> Any:
    """A backed AnnData: ``X`` stays on disk until sliced."""
    import anndata

    return anndata.read_h5ad(local, backed="r")


def open_zarr(local: str | None, fs: Any = None, remote: str | None = None) -> Any:
    """A read-only zarr group, on local disk or straight from the storage's own fsspec
    filesystem (S3: the endpoint and credentials the instance was connected with).

    zarr reads through an async filesystem; the storage's (synchronous) one is wrapped,
    not copied, so no second S3 client with its own unclosed session is made.
    """
    import zarr

    if local is not None:
        return zarr.open_group(local, mode="r")
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

    wrapped = AsyncFileSystemWrapper(fs, asynchronous=True)
    store = zarr.storage.FsspecStore(wrapped, path=remote or "", read_only=True)
    return zarr.open_group(store, mode="r")
