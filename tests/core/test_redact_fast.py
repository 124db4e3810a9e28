"""The bulk paths' fast checks (a dict masked at once, a run row redacted at once, a
feature's rule read once) give what the item-by-item paths give: secrets that look like
plain values are still masked, and bad values are still refused."""

import math
import random
import re

import pytest
import threadline as tl
from threadline import adapters
from threadline._redact import MASK, _mask_each, _maybe_secret, all_plain, mask, mask_many
from threadline.errors import InvalidFeatureValue

AWS = "AKIA" + "ABCDEFGHIJKLMNOP"  # alphanumeric, as short as a task hash
GITHUB = "ghp_" + "a1" * 18


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (AWS, MASK),
        (GITHUB, MASK),
        ("https://oauth2:s3cr3t@git.example.org/x", "https://oauth2:***@git.example.org/x"),
        ("token=abc123", "token=***"),
        ("7c/65c1e5 --password hunter2", "7c/65c1e5 --password ***"),
    ],
)
def test_a_secret_among_numbers_and_short_strings_is_masked(text, masked):
    """A trace-like dict (numbers, a short hash, ids) with one string that is a secret:
    masked at any depth, the rest kept with its types."""
    trace = {"hash": "7c/65c1e5", "task_id": "1", "cpu": 323.9, "rss": 18253611, "ok": False}
    values = {"process": "ALIGN", "exit": 0, "trace": {**trace, "native_id": text}}
    got = mask(values)
    assert got == {"process": "ALIGN", "exit": 0, "trace": {**trace, "native_id": masked}}
    assert mask({"tag": text, "n": 1}) == {"tag": masked, "n": 1}
    assert not all_plain(["7c/65c1e5", text]) and all_plain(["7c/65c1e5", "10001"])


def test_a_secret_named_key_is_masked_in_a_plain_dict():
    """A key that names a secret masks its value, however plain the value looks."""
    values = {"trace": {"hash": "ab/cdef12", "api_key": "12345", "pass": 7, "token": None}}
    assert mask(values) == {
        "trace": {"hash": "ab/cdef12", "api_key": MASK, "pass": MASK, "token": None}
    }
    assert mask({1: "x", "n": 2}) == {1: "x", "n": 2}  # a key that is no string


def _value(rng: random.Random, depth: int) -> object:
    texts = ["7c/65c1e5", "10001", "sample_3", "PROCESS_0 (a)", AWS, GITHUB, "a@b", "x token=1"]
    kind = rng.randrange(8 if depth < 2 else 6)
    if kind == 0:
        return rng.randrange(-5, 10**12)
    if kind == 1:
        return rng.choice([1.5, -0.0, math.inf, True, False, None])
    if kind in (2, 3, 4):
        return rng.choice(texts)
    if kind == 5:
        return ""
    if kind == 6:
        return [rng.choice(["--token", "abc", 3])]
    return _dict(rng, depth + 1)


def _dict(rng: random.Random, depth: int = 0) -> dict[object, object]:
    keys = ["hash", "task_id", "cpu", "secret", "name", "tag", 5, "session_key", "peak_rss"]
    return {rng.choice(keys): _value(rng, depth) for _ in range(rng.randrange(6))}


def test_the_fast_path_gives_what_item_by_item_gives():
    """Thousands of random dicts (secrets by name and by shape, nested dicts, lists, keys
    that are no strings): ``mask`` equals the item-by-item masking, and returns new
    dicts (the nested ones too), never the caller's."""
    rng = random.Random(17)
    for _ in range(3000):
        value = _dict(rng)
        got = mask(value)
        assert got == _mask_each(value)
        assert got is not value
        for key, item in value.items():
            if type(item) is dict:
                assert got[key] is not item


def _copies_all_the_way(got: object, value: object) -> None:
    """``got`` (a masked copy of ``value``) shares no dict with it at any depth."""
    if type(value) is dict:
        assert type(got) is dict and got is not value
        for key, item in value.items():
            if got[key] != MASK:
                _copies_all_the_way(got[key], item)


def _similar(rng: random.Random, count: int) -> list[dict[object, object]]:
    """Dicts with the same keys in the same order (as a bulk ingest's), values drawn anew:
    plain ones mostly, now and then a secret, a list, or nested dicts of their own keys."""
    shape = _dict(rng)
    inner = _dict(rng, 1)
    out = []
    for _ in range(count):
        made: dict[object, object] = {}
        for key, item in shape.items():
            if type(item) is dict:
                made[key] = {k: _value(rng, 2) for k in inner}
            else:
                made[key] = _value(rng, 1) if rng.random() < 0.2 else item
        out.append(made)
    return out


def test_masking_many_gives_what_masking_each_gives():
    """Lists of dicts with the same keys (the grouped path), mixed with other dicts and
    values that are no dicts: ``mask_many`` equals ``mask`` of each, in order, in new
    dicts at every depth, and secrets by name or shape are masked however many plain
    dicts surround them."""
    rng = random.Random(29)
    for _ in range(400):
        values: list[object] = []
        for _ in range(rng.randrange(1, 4)):
            values += _similar(rng, rng.randrange(1, 30))
        values += [_dict(rng) for _ in range(rng.randrange(3))]
        values += rng.sample(["text", AWS, 3, None, [GITHUB]], rng.randrange(3))
        rng.shuffle(values)
        got = mask_many(values)
        assert got == [mask(v) for v in values]
        for masked, value in zip(got, values, strict=True):
            _copies_all_the_way(masked, value)
    plain = {"process": "ALIGN", "trace": {"hash": "ab/1", "rss": 5}}
    hidden = {"process": "ALIGN", "trace": {"hash": AWS, "rss": 5}}
    got = mask_many([plain] * 50 + [hidden] + [plain] * 50)
    assert got[50] == {"process": "ALIGN", "trace": {"hash": MASK, "rss": 5}}
    assert got[:50] == got[51:] == [plain] * 50
    assert mask_many([{"token": 1, "n": 2}] * 5) == [{"token": MASK, "n": 2}] * 5


def test_bulk_runs_and_values_are_stored_masked(db_instance):
    """``start_runs`` with one transform and parent object for every row (and a parent
    by uid), references that hide a token, and ``annotate_records`` of trace dicts with
    a secret: stored masked, the plain rows as given, each run under its parent."""
    transform = adapters.get_transform("pipe/ALIGN", "process")
    parent = adapters.start_run("pipe", "pipeline")
    rows = [
        {"transform": transform, "parent": parent, "reference": f"ab/{i:06x}", "name": "ALIGN"}
        for i in range(40)
    ]
    rows[7]["reference"] = AWS
    rows[9]["name"] = f"ALIGN {GITHUB}"
    rows[11]["parent"] = parent.uid
    runs = adapters.start_runs(rows)
    stored = {r.uid: r for r in tl.Run.filter(parent=parent)}
    assert [stored[r.uid].reference for r in runs[6:9]] == ["ab/000006", MASK, "ab/000008"]
    assert stored[runs[9].uid].name == f"ALIGN {MASK}"
    assert {r.parent_id for r in stored.values()} == {parent.id} and len(stored) == 40
    features = [(run, {"exit": 0, "trace": {"hash": "ab/1", "cpu": 1.5}}) for run in runs]
    features[3] = (runs[3], {"exit": 1, "trace": {"hash": AWS, "cpu": 2.5}})
    adapters.annotate_records(features, create_features=True)
    got = tl.Run.get(uid=runs[3].uid).features.get_values()
    assert got == {"exit": 1, "trace": {"hash": MASK, "cpu": 2.5}}
    assert tl.Run.get(uid=runs[4].uid).features.get_values()["trace"] == {
        "hash": "ab/1",
        "cpu": 1.5,
    }


def test_a_bad_value_among_many_is_refused_before_anything_is_written(db_instance):
    """A dict feature's value with NaN, or a number where the feature holds text, in the
    middle of a bulk annotate: the same error as for one record, and no value written."""
    transform = adapters.get_transform("pipe/QC", "process")
    runs = adapters.start_runs([{"transform": transform} for _ in range(5)])
    adapters.annotate_records([(runs[0], {"tag": "a", "trace": {"x": 1.0}})], create_features=True)
    for bad in ({"tag": "b", "trace": {"x": math.nan}}, {"tag": 3, "trace": {"x": 1.0}}):
        batch = [(run, {"tag": "b", "trace": {"x": 2.0}}) for run in runs[1:]]
        batch[2] = (runs[3], bad)
        with pytest.raises(InvalidFeatureValue):
            adapters.annotate_records(batch)
        assert [r.features.get_values() for r in runs[1:]] == [{}, {}, {}, {}]


def test_the_clue_check_finds_what_one_search_for_every_clue_finds():
    """``_maybe_secret`` (one substring test per clue) says yes exactly where a search for
    any clue in the lowercased text finds one: random texts made of clue fragments,
    near misses (``gh_``, ``ghx_``, ``sk_``), case and non-ASCII letters."""
    clues = re.compile(
        "@|akia|gh[pousr]_|xox|sk-|eyj|pass|secret|token|api|access|private|credential"
    )
    parts = ["@", "AKIA", "akI", "ghp_", "GHS_", "gh_", "ghx_", "xo", "x", "sk-", "sk_", "eyJ"]
    parts += ["pa", "ss", "SECRET", "toke", "n", "ap", "i", "access", "priv", "ate", "İ", "ß"]
    parts += ["credential", "cred", "/", "7c", "_0", " ", "\n", "K", "Ω"]
    rng = random.Random(5)
    for _ in range(20000):
        text = "".join(rng.choice(parts) for _ in range(rng.randrange(1, 6)))
        assert _maybe_secret(text) == (clues.search(text.lower()) is not None), text
