"""Feature values on runs and artifacts, and edges between runs."""

from collections.abc import Iterable
from typing import Any

from .._db import write_transaction
from .._redact import mask, mask_many
from ..errors import InvalidInput
from ..models import Artifact, Feature, Run, RunLink, check_values, write_values_many
from ..models._managers import check_values_many

CHUNK = 500  # rows per INSERT


def annotate(
    record: Artifact | Run, values: dict[str, Any], *, create_features: bool = False
) -> None:
    """Set feature values on an artifact or a run (features made on demand if asked);
    string values are stored with secrets masked."""
    record.features.add_values(mask(values), create_features=create_features)


def annotate_records(
    items: Iterable[tuple[Artifact | Run, dict[str, Any]]], *, create_features: bool = False
) -> None:
    """``annotate`` for many records of one kind in one transaction; every value is
    checked before anything is written."""
    items = list(items)
    masked = mask_many([values for _, values in items])
    checked: list[tuple[Any, list[tuple[Feature, Any]]]] = list(
        zip(
            [record for record, _ in items], check_values_many(masked, create_features), strict=True
        )
    )
    kinds = {type(record) for record, _ in checked}
    if len(kinds) > 1:
        raise InvalidInput("annotate_records takes artifacts or runs, not both in one call")
    write_values_many(checked)


def check_features(values: dict[str, Any], *, create_features: bool = False) -> None:
    """Raise ``UnknownFeature`` or ``InvalidFeatureValue`` if ``annotate`` would refuse
    ``values``; writes nothing. For adapters that must know a set of values is good
    before they store files that will carry them."""
    check_values(mask(values), create_features)


def link_runs(pairs: Iterable[tuple[Run, Run]]) -> None:
    """Record that each ``downstream`` run consumed what its ``upstream`` run produced,
    for many ``(upstream, downstream)`` pairs in one statement per 500; pairs already
    linked are left as they are."""
    rows = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInput(f"link_runs takes (upstream, downstream) pairs, not {pair!r}")
        upstream, downstream = pair
        if upstream.id == downstream.id:
            raise InvalidInput(f"a run cannot be its own upstream ({upstream.uid})")
        rows.append({"upstream": upstream.id, "downstream": downstream.id})
    if not rows:
        return
    with write_transaction(RunLink._meta.database):
        for start in range(0, len(rows), CHUNK):
            RunLink.insert_many(rows[start : start + CHUNK]).on_conflict_ignore().execute()
