"""What a tombstone says: who deleted a purged artifact and when, who purged it and when.

Kept apart from the models (which call it when an artifact goes to the trash or refuses
to load) and from ``maintenance`` (which purges); no threadline imports.
"""

from __future__ import annotations

import datetime as dt

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

TOMBSTONE_FIELDS = ("deleted_by", "deleted_at", "purged_by", "purged_at")


def current_user() -> str | None:
    """The login name of this process's user (None where there is none)."""
    import getpass  # on use: with termios, 1 M instructions every query would pay at import

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def stamp(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) time as ``2026-12-05 12:30:00 UTC``; ``?`` when unknown."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment is not None else "?"


def tombstone(artifact: Any) -> dict[str, str]:
    """The tombstone fields of an artifact as text (``?`` where unknown)."""
    return {
        name: stamp(value) if name.endswith("_at") else (value or "?")
        for name in TOMBSTONE_FIELDS
        for value in [getattr(artifact, name)]
    }


def purge_message(artifact: Any) -> str:
    """The one line that loading a purged artifact raises."""
    t = tombstone(artifact)
    return (
        f"artifact {artifact.key or '(no key)'} v{artifact.version} ({artifact.uid}) was purged "
        f"at {t['purged_at']} by {t['purged_by']} (deleted by {t['deleted_by']} at "
        f"{t['deleted_at']}): "
        "its content is gone, its record stays for lineage"
    )
