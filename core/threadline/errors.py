"""Every error threadline raises, in one tree.

    ThreadlineError
    ├── InvalidInput (ValueError)          bad argument: a key, a path, a feature value
    │   ├── InvalidKey                     key with '..', absolute, empty segments, NUL, too long
    │   ├── InvalidFeatureValue            a value that does not fit the feature's dtype
    │   ├── SourceChanged                  a file changed while it was being saved
    │   ├── ValidationError                a DataFrame or AnnData that breaks its schema
    │   ├── TraceError                     a Nextflow trace file or value that cannot be read
    │   └── EventError                     a Nextflow weblog body that is not a Nextflow event
    ├── NotFound (LookupError)             get() matched nothing
    │   ├── ArtifactPurged                 an artifact whose object gc purged (a tombstone)
    │   └── UnknownFeature                 a feature name that does not exist
    ├── MultipleFound (LookupError)        get() matched several records
    ├── StorageError (OSError)             object storage unreachable, object missing or corrupt
    ├── DatabaseError                      database unreachable or refused the operation
    ├── ConfigError                        unusable configuration: unsupported URL, missing setting
    └── TrackingError                      misuse of track()/finish(), no active run,
                                           another database (or none) while a run
                                           is open

Messages are one line and name the offending value; CLI commands print them and exit 1.
SQLite and PostgreSQL driver errors are mapped to ``DatabaseError`` in ``_db.py``.
"""

__all__ = [
    "ArtifactPurged",
    "ConfigError",
    "DatabaseError",
    "EventError",
    "InvalidFeatureValue",
    "InvalidInput",
    "InvalidKey",
    "MultipleFound",
    "NotFound",
    "SourceChanged",
    "StorageError",
    "ThreadlineError",
    "TraceError",
    "TrackingError",
    "UnknownFeature",
    "ValidationError",
]


class ThreadlineError(Exception):
    """Root of every error threadline raises on purpose."""


class InvalidInput(ThreadlineError, ValueError):
    """An argument is not acceptable; nothing was written."""


class InvalidKey(InvalidInput):
    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        super().__init__(f"invalid key {key!r}: {reason}")


class InvalidFeatureValue(InvalidInput):
    def __init__(self, feature: str, value: object, dtype: str) -> None:
        self.feature, self.value, self.dtype = feature, value, dtype
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"feature {feature!r} expects {dtype}, got {shown}")


class ValidationError(InvalidInput):
    """Data broke its schema: every problem found, in one error; nothing was saved.

    ``problems`` holds one line per problem; ``report`` the full ``ValidationReport``.
    """

    def __init__(self, schema: str, problems: list[str], report: object = None) -> None:
        self.schema, self.problems, self.report = schema, problems, report
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"data does not match schema {schema}: {count}: " + "; ".join(problems))


class TraceError(InvalidInput):
    """A Nextflow trace file, or a value in one, that cannot be read."""


class EventError(InvalidInput):
    """A Nextflow weblog body that is not a Nextflow event (answered with 400)."""


class NotFound(ThreadlineError, LookupError):
    """A lookup matched no record."""


class ArtifactPurged(NotFound):
    """An artifact whose object ``gc`` purged: its record stays as a tombstone for the
    lineage, its content is gone."""


class UnknownFeature(NotFound):
    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        hint = f"create it first with tl.Feature(name={name!r}, dtype=...)"
        super().__init__(message or f"unknown feature {name!r}: {hint}")


class MultipleFound(ThreadlineError, LookupError):
    """A lookup that must match one record matched several."""


class StorageError(ThreadlineError, OSError):
    """Object storage failed: unreachable, missing object, hash mismatch."""


class DatabaseError(ThreadlineError):
    """The database could not be reached or refused the operation."""


class ConfigError(ThreadlineError):
    """The instance configuration is unusable."""


class TrackingError(ThreadlineError):
    """track()/finish()/flow/step used in a way that cannot work."""


class SourceChanged(InvalidInput):
    """A file changed while it was being hashed or copied; nothing was recorded."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path} changed while it was being saved; save it again once nothing writes to it"
        )
