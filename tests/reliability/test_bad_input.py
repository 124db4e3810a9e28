"""Every bad input a clear error: the corpus in bad_input.py, one case a test; each must
end in one line (an exception message, or CLI exit 1 with one ``error:`` line) and leave
the instance and the working folder as they were."""

import subprocess

import pytest
import threadline as tl

from tests.reliability.bad_input import CASES, outcome, python_without_psycopg2


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(case, local_instance, isolated):
    work = isolated / "case"
    work.mkdir()
    ok, said = outcome(case, work)
    assert ok, said
    assert tl.instance() is local_instance  # a refused instance never replaces the open one


def test_postgres_without_the_driver_names_the_extra(isolated):
    result = subprocess.run(
        [
            *python_without_psycopg2(),
            "--db",
            "postgresql://u@127.0.0.1:5432/db",
            "--storage",
            str(isolated / "st"),
            "ls",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "error: PostgreSQL needs psycopg2: pip install 'threadline[postgres]'\n"
    )
