"""Keep secrets out of what is stored: redact before writing.

One set of rules for every string threadline stores through the adapter API (keys,
references, names, features, params, commands, sources, errors):

- URLs with credentials: ``https://oauth2:TOKEN@host`` keeps the user and masks the
  password (``https://oauth2:***@host``); a web URL with only a user part
  (``https://TOKEN@github.com/org/pipe``, how tokens ride in clone URLs) masks it;
- well-known token shapes (AWS access keys, GitHub, Slack, OpenAI tokens, JWTs);
- ``name=value``, ``name: value`` and ``--name value`` where the name looks secret;
- dict entries whose key looks secret; in lists (``sys.argv``, a step's argument list) the
  item after a secret-looking flag (``["--password", X]``: ``X`` is masked).
"""

import functools
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|auth|session[_-]?key|signature)",
    re.IGNORECASE,
)
_URL_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")
_URL_USER = re.compile(r"(?P<scheme>\b(?:git\+)?https?://)[^:/@\s]+@", re.IGNORECASE)
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


# in names and keys (identifiers, not prose): ``name=value`` and ``--flag value`` only, the
# value ending at the next ``/``; ``get_token (sample=A)``, a job's name, stays whole
_WORD = r"(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)"
_KEY_ASSIGN = re.compile(
    rf"(?P<name>--?[\w.-]*{_WORD}[\w.-]*(?:\s*[=:]\s*|\s+)"
    rf"|[\w.-]*{_WORD}[\w.-]*[\"']?\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,}\])/]+)",
    re.IGNORECASE,
)


# what every rule above needs somewhere in the text, lowercased: most strings (names,
# paths, statuses) have none of it and are returned after these checks; each literal is
# one substring test (``in``: a C scan of the text), which for text of 60 characters
# costs under half of one regular expression search over the same clues (instructions
# measured), and the same for short text
_GITHUB_CLUE = re.compile("gh[pousr]_")


def _maybe_secret(text: str) -> bool:
    low = text.lower()
    return (
        "@" in low
        or "akia" in low
        or "xox" in low
        or "sk-" in low
        or "eyj" in low
        or "pass" in low
        or "secret" in low
        or "token" in low
        or "api" in low
        or "access" in low
        or "private" in low
        or "credential" in low
        or ("gh" in low and _GITHUB_CLUE.search(low) is not None)
    )


def all_plain(texts: list[str]) -> bool:
    """Whether ``redact_text`` and ``redact_key`` return each of ``texts`` as it is
    because none holds a clue: one scan of them all (a clue is never split by the
    newline between them), for the many short strings of a bulk ingest."""
    return not texts or not _maybe_secret("\n".join(texts))


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _urls(text: str) -> str:
    if "@" not in text:
        return text
    text = _URL_CREDS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _URL_USER.sub(lambda m: f"{m['scheme']}{MASK}@" if MASK not in m[0] else m[0], text)


def redact_text(text: str) -> str:
    """Mask credentials in URLs, well-known token shapes and ``name=value`` secrets."""
    if not _maybe_secret(text):
        return text
    text = _TOKENS.sub(MASK, _urls(text))
    return _ASSIGN.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)


def redact_key(key: str) -> str:
    """``redact_text`` for an identifier (a key, a path, a run's name or reference): a
    masked ``name=value`` ends at the next ``/``, so ``runs/token=abc/x.csv`` keeps its
    other segments, and only a flag (``--token x``) masks the word after it."""
    if not _maybe_secret(key):
        return key
    text = _TOKENS.sub(MASK, _urls(key))
    return _KEY_ASSIGN.sub(lambda m: f"{m['name']}{MASK}", text)


def is_secret_flag(item: object) -> bool:
    """``--password``, ``-token``: a flag whose value is the next item of a list."""
    return (
        isinstance(item, str)
        and item.startswith("-")
        and "=" not in item
        and len(item) < 64
        and is_secret_name(item)
    )


def mask(value: Any, name: str = "") -> Any:
    """``value`` with its secrets masked and its types kept (feature values: numbers,
    dates and booleans stay what they are; strings, dicts and lists are redacted)."""
    if name and is_secret_name(name) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return _mask_dict(value)
    if isinstance(value, list):
        return _mask_items(value, mask)
    if isinstance(value, tuple):
        return tuple(_mask_items(value, mask))
    return value


# value types ``mask`` returns as they are (no shape of a secret), checked exactly
_KEPT = frozenset({int, float, bool, type(None)})


def _mask_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    """``mask`` of a dict: when no key looks secret and all its text together (its
    strings and those of the dicts in it) holds none of the clues ``redact_text`` looks
    for, a copy at once (one scan instead of one per string: a bulk ingest masks the
    feature dicts of 100,000 tasks, mostly numbers and short names); else item by item."""
    texts: list[str] = []
    plain = _plain_copy(value, texts)
    if plain is not None and all_plain(texts):
        return plain
    return _mask_each(value)


_PLAIN_KEYS: set[tuple[Any, ...]] = set()  # key tuples of dicts seen with no secret name


def _plain_copy(value: dict[Any, Any], texts: list[str]) -> dict[Any, Any] | None:
    """A copy of ``value`` (and of the dicts in it) if no key looks secret and every item
    is a number, a boolean, ``None``, a string (added to ``texts``) or such a dict; else
    ``None``."""
    keys = tuple(value)
    if keys not in _PLAIN_KEYS:
        if not all(type(k) is str and not is_secret_name(k) for k in keys):
            return None
        if len(_PLAIN_KEYS) < 4096:  # the shapes of a bulk ingest are few
            _PLAIN_KEYS.add(keys)
    out = None
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif kind is dict:
            inner = _plain_copy(item, texts)
            if inner is None:
                return None
            out = out or dict(value)
            out[key] = inner
        elif kind not in _KEPT:
            return None
    return dict(value) if out is None else out


def mask_many(values: list[Any]) -> list[Any]:
    """``mask`` of each value (a bulk ingest's feature dicts, one per record), the same
    results. Dicts with the same keys in the same order are checked together: their keys
    once, each key's values by one type check, all their strings by one clue scan, then
    copied; a group where a key or value is not plain, or the scan finds a clue, goes
    through ``mask`` one dict at a time, as does anything else."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    out: list[Any] = [None] * len(values)
    for i, value in enumerate(values):
        if type(value) is dict:
            groups.setdefault(tuple(value), []).append(i)
        else:
            out[i] = mask(value)
    for keys, where in groups.items():
        members = [values[i] for i in where]
        texts: list[str] = []
        copies = _plain_copies(keys, members, texts)
        if copies is None or not all_plain(texts):
            copies = list(map(mask, members))
        for i, copy in zip(where, copies, strict=True):
            out[i] = copy
    return out


_PLAIN_ITEMS = _KEPT | {str, dict}


def _plain_copies(
    keys: tuple[Any, ...], members: list[dict[Any, Any]], texts: list[str]
) -> list[dict[Any, Any]] | None:
    """``_plain_copy`` of each of these dicts with these keys, a key at a time."""
    if keys not in _PLAIN_KEYS:
        if not all(type(k) is str and not is_secret_name(k) for k in keys):
            return None
        if len(_PLAIN_KEYS) < 4096:
            _PLAIN_KEYS.add(keys)
    copies = list(map(dict, members))
    for key in keys:
        column = list(map(operator.itemgetter(key), members))
        kinds = set(map(type, column))
        if kinds <= _KEPT:
            continue
        if not kinds <= _PLAIN_ITEMS:
            return None
        if str in kinds:
            texts += column if len(kinds) == 1 else [v for v in column if type(v) is str]
        if dict in kinds:
            where = [i for i, v in enumerate(column) if type(v) is dict]
            inner = _plain_group([column[i] for i in where], texts)
            if inner is None:
                return None
            for i, copy in zip(where, inner, strict=True):
                copies[i][key] = copy
    return copies


def _plain_group(dicts: list[dict[Any, Any]], texts: list[str]) -> list[dict[Any, Any]] | None:
    """``_plain_copies`` of dicts of any keys (the dicts inside a group's dicts)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, value in enumerate(dicts):
        groups.setdefault(tuple(value), []).append(i)
    out: list[dict[Any, Any]] = [{}] * len(dicts)
    for keys, where in groups.items():
        copies = _plain_copies(keys, [dicts[i] for i in where], texts)
        if copies is None:
            return None
        for i, copy in zip(where, copies, strict=True):
            out[i] = copy
    return out


def _mask_each(value: dict[Any, Any]) -> dict[Any, Any]:
    """``mask`` of each item under its key's name, with the plain cases inline."""
    out = {}
    for key, item in value.items():
        name = key if type(key) is str else str(key)
        if name and is_secret_name(name) and item not in (None, "", False):
            out[key] = MASK
        elif type(item) in _KEPT:
            out[key] = item
        elif type(item) is str:
            out[key] = redact_text(item)
        else:
            out[key] = mask(item)  # its name is checked above
    return out


def _mask_items(items: Iterable[Any], each: Callable[[Any], Any]) -> list[Any]:
    """Items redacted one by one; the item after a secret flag is masked whole."""
    out: list[Any] = []
    after_flag = False
    for item in items:
        if after_flag and item not in (None, "", False) and not is_secret_flag(item):
            out.append(MASK)
        else:
            out.append(each(item))
        after_flag = is_secret_flag(item)
    return out


def redact(value: Any, name: str = "") -> Any:
    """A JSON-safe copy of ``value`` with secrets masked, by key name or by shape."""
    if name and is_secret_name(name) and value not in (None, "", False):
        return MASK
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return _mask_items(items, redact)
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
