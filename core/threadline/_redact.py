"""Keep secrets out of stored params, command lines and source: redact before writing."""

import re
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|auth|session[_-]?key|signature)",
    re.IGNORECASE,
)
_URL_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")
_TOKENS = re.compile(
    r"\b(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|sk-[A-Za-z0-9]{20,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+)\b"
)
_ASSIGN = re.compile(
    r"(?P<name>(--?)?[\w.-]*(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credential)[\w.-]*[\"']?)(?P<sep>\s*[=:]\s*|\s+)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,}\])]+)",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_text(text: str) -> str:
    """Mask credentials in URLs, well-known token shapes and ``name=value`` secrets."""
    text = _URL_CREDS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _TOKENS.sub(MASK, text)
    return _ASSIGN.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)


def redact(value: Any, name: str = "") -> Any:
    """A JSON-safe copy of ``value`` with secrets masked, by key name or by shape."""
    if name and is_secret_name(name) and value not in (None, "", False):
        return MASK
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [redact(v) for v in items]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(_jsonable(value))


def _jsonable(value: Any) -> str:
    """A readable string for a value JSON cannot hold (an Artifact, a path, a frame)."""
    uid = getattr(value, "uid", None)
    if uid is not None and hasattr(value, "hash"):
        return f"Artifact({getattr(value, 'key', None) or uid})"
    if hasattr(value, "__fspath__"):
        return str(value)
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)}"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
