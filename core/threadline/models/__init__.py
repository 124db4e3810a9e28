"""The tables, in dependency order, and the lookups that cross link tables."""

from ._base import BaseModel, JSONField, database, new_uid, utcnow
from ._migrations import LATEST, SchemaVersion, ensure_schema
from ._query import Query
from .artifact import Artifact, RunInput, Storage
from .collection import Collection, CollectionArtifact, Schema
from .feature import (
    ArtifactFeatureValue,
    ArtifactLabel,
    Feature,
    Label,
    RunFeatureValue,
    RunLabel,
    check_value,
    infer_dtype,
    normalize_dtype,
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
    "JSONField",
    "Label",
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
    "database",
    "ensure_schema",
    "infer_dtype",
    "new_uid",
    "normalize_dtype",
    "utcnow",
]
