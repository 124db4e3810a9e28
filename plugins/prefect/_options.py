"""What threadline records for one flow or task, beyond Prefect's own arguments."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.errors import InvalidInput

OPTION_NAMES = ("save_result", "key", "key_template", "track_inputs", "features")


@dataclass(frozen=True)
class TrackOptions:
    """Tracking options of a flow or task, given to ``flow(...)``, ``task(...)`` or
    ``instrument(...)``; frozen, so a task copied by ``with_options`` shares them safely.

    - ``save_result``: save returned DataFrames (as parquet) and AnnData (as h5ad) as
      artifacts; returned paths and Artifacts are recorded whatever this says.
    - ``key``: the key of the one output the function returns.
    - ``key_template``: a ``str.format`` template for output keys, with the fields
      ``flow``, ``task``, ``name``, ``stem``, ``suffix``, ``path``, ``index`` and
      ``params`` (the call's parameters: ``{params[sample]}``).
    - ``track_inputs``: link argument paths and Artifacts as inputs (``True``), none
      (``False``), or only the arguments named in a list.
    - ``features``: feature values set on every output artifact, returned Artifacts
      included (created on demand).
    """

    save_result: bool = False
    key: str | None = None
    key_template: str | None = None
    track_inputs: bool | tuple[str, ...] = True
    features: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key is not None and self.key_template is not None:
            raise InvalidInput("give key= or key_template=, not both")
        if not isinstance(self.track_inputs, bool):
            object.__setattr__(self, "track_inputs", tuple(self.track_inputs))
        object.__setattr__(self, "features", dict(self.features or {}))

    def tracks_input(self, name: str) -> bool:
        if isinstance(self.track_inputs, bool):
            return self.track_inputs
        return name in self.track_inputs


def split_options(kwargs: dict[str, Any]) -> tuple[TrackOptions, dict[str, Any]]:
    """Our options and the arguments that belong to Prefect, from one keyword dict."""
    ours = {k: kwargs[k] for k in OPTION_NAMES if k in kwargs}
    rest = {k: v for k, v in kwargs.items() if k not in OPTION_NAMES}
    track = ours.get("track_inputs", True)
    if not isinstance(track, bool) and not isinstance(track, Iterable):
        raise InvalidInput(f"track_inputs must be a bool or a list of names, not {track!r}")
    return TrackOptions(**ours), rest
