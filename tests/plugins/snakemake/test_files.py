"""File names as Snakemake's events show them, back to paths, storage keys and keys."""

import pytest
from threadline.errors import InvalidInput
from threadline.snakemake import parse_reported, split_query
from threadline.snakemake._files import output_key


@pytest.mark.parametrize(
    ("text", "name", "labels", "storage"),
    [
        ("results/A.txt", "results/A.txt", (), False),
        (
            "threadline://raw/x.csv (retrieve from storage)",
            "threadline://raw/x.csv",
            ("retrieve from storage",),
            True,
        ),
        ("results/B.csv (send to storage)", "results/B.csv", ("send to storage",), True),
        ("data.fifo (pipe)", "data.fifo", ("pipe",), False),
        (
            "big.bam (access: sequential, send to storage)",
            "big.bam",
            ("access: sequential", "send to storage"),
            True,
        ),
        ("plot (1).png", "plot (1).png", (), False),  # parentheses that are no annotation
    ],
)
def test_parse_reported(text, name, labels, storage):
    reported = parse_reported(text)
    assert (reported.name, reported.labels, reported.is_storage) == (name, labels, storage)
    assert reported.is_special == ("pipe" in labels)


def test_split_query():
    assert split_query("threadline://raw/x.csv") == ("raw/x.csv", None)
    assert split_query("raw/x.csv@12") == ("raw/x.csv", 12)
    with pytest.raises(InvalidInput, match="KEY@VERSION"):  # '@' selects a version
        split_query("raw/name@host.csv")


def test_output_key():
    assert output_key("results/A.txt", "/w", None) == "results/A.txt"
    assert output_key("/w/results/A.txt", "/w", "proj") == "proj/results/A.txt"
    assert output_key("../elsewhere.txt", "/w", None) is None  # found by content instead
    assert output_key("/tmp/x.txt", "/w", None) is None
