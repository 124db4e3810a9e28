"""Artifact and transform keys: virtual paths, checked before anything is written."""

import os

from .errors import InvalidKey

MAX_KEY = 1024


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid virtual path, else raise ``InvalidKey``."""
    if not isinstance(key, str):
        raise InvalidKey(key, "must be a string")
    if not key:
        raise InvalidKey(key, "must not be empty")
    if len(key) > MAX_KEY:
        raise InvalidKey(key[:40] + "...", f"longer than {MAX_KEY} characters ({len(key)})")
    if "\x00" in key:
        raise InvalidKey(key, "contains a NUL character")
    control = None if key.isprintable() else next((c for c in key if _is_control(c)), None)
    if control is not None:
        raise InvalidKey(key, f"contains the control character {control!r} (newline, tab...)")
    if "@" in key:
        raise InvalidKey(key, "contains '@', which selects a version (key@3)")
    if key.startswith("/") or os.path.isabs(key) or (len(key) > 1 and key[1] == ":"):
        raise InvalidKey(key, "must be relative, not an absolute path")
    if "\\" in key:
        raise InvalidKey(key, "use '/' to separate segments, not '\\'")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(key, "has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise InvalidKey(key, f"has a {segment!r} segment")
    return key


def check_key_kept(key: str | None, was: str | None) -> None:
    """A saved artifact keeps the key it was saved with (``was``): its version number
    and ``is_latest`` belong to that key."""
    if key != was:
        raise InvalidKey(
            key,
            f"a saved artifact keeps its key {was!r}: save the content under the new "
            "key instead (tl.Artifact(path, key=...))",
        )


# line and paragraph separators, bidirectional embeddings, overrides and isolates: they
# break a listing into lines or show a key as another one (``ls``, terminals)
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(c: str) -> bool:
    """C0 and C1 control characters, DEL, and the layout characters in ``_INVISIBLE``."""
    code = ord(c)
    return code < 0x20 or 0x7F <= code <= 0x9F or c in _INVISIBLE


def suffix_of(name: str) -> str:
    """``a/b.fastq.gz`` -> ``.fastq.gz``; ``a/b`` -> ``''``; ``.hidden`` -> ``''``."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    stem, dot, rest = base.partition(".")
    if not stem or not dot:
        return ""
    parts = rest.split(".")
    if len(parts) >= 2 and parts[-1] in ("gz", "bz2", "xz", "zst"):
        return "." + ".".join(parts[-2:])
    return "." + parts[-1]
