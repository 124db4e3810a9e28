"""The tables, in dependency order, and the lookups that cross link tables."""

from .._dtypes import check_value, infer_dtype, normalize_dtype
from ..query import Query
from ._base import BaseModel, JSONField, database, new_uid, utcnow
from ._constraints import undefer
from ._managers import FeatureManager, LabelManager, check_values, write_values_many
from ._migrations import LATEST, SchemaVersion, ensure_schema
from .artifact import Artifact, PendingSave, RunInput, Storage
from .collection import Collection, CollectionArtifact, Schema
from .feature import (
    ArtifactFeatureValue,
    ArtifactLabel,
    Feature,
    Label,
    RunFeatureValue,
    RunLabel,
)
from .run import CacheEntry, Environment, Project, Run, RunLink, Transform

TABLES: list[type[BaseModel]] = [
    Storage,
    Transform,
    Project,
    Environment,
    Run,
    RunLink,
    Feature,
    Label,
    Schema,
    Artifact,
    RunInput,
    ArtifactFeatureValue,
    RunFeatureValue,
    ArtifactLabel,
    RunLabel,
    Collection,
    CollectionArtifact,
    CacheEntry,
]
undefer(TABLES)  # keys to tables defined later become real constraints (_constraints.py)

Artifact._links = {
    "input_of": (RunInput, "artifact", "run"),
    "labels": (ArtifactLabel, "artifact", "label"),
}
Run._links = {"inputs": (RunInput, "run", "artifact"), "labels": (RunLabel, "run", "label")}

__all__ = [
    "LATEST",
    "TABLES",
    "Artifact",
    "ArtifactFeatureValue",
    "ArtifactLabel",
    "BaseModel",
    "CacheEntry",
    "Collection",
    "CollectionArtifact",
    "Environment",
    "Feature",
    "FeatureManager",
    "JSONField",
    "Label",
    "LabelManager",
    "PendingSave",
    "Project",
    "Query",
    "Run",
    "RunFeatureValue",
    "RunInput",
    "RunLabel",
    "RunLink",
    "Schema",
    "SchemaVersion",
    "Storage",
    "Transform",
    "check_value",
    "check_values",
    "database",
    "ensure_schema",
    "infer_dtype",
    "new_uid",
    "normalize_dtype",
    "utcnow",
    "write_values_many",
]
