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
    control = next((c for c in key if ord(c) < 0x20 or ord(c) == 0x7F), None)
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
