"""pandera's failure cases as one line per problem (``ValidationReport.problems``)."""

import datetime as dt
from typing import Any

MAX_LISTED = 20  # offending values shown per problem


def describe_failures(cases: Any, frame: Any = None) -> list[str]:
    """One line per (column, check) in pandera's ``failure_cases`` table; ``frame`` (the
    data validated) supplies the actual dtype of columns of the wrong type."""
    cases = cases.astype({"column": object, "check": object})
    coerced = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])
    problems = []
    for (column, check), rows in cases.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check.startswith("dtype(") and column in coerced:
            continue  # the coercion failure already says it
        actual = None
        if frame is not None and isinstance(column, str) and column in frame.columns:
            actual = frame[column].dtype
        problems.append(_describe(column, check, rows, actual))
    return problems


def _values(rows: Any) -> str:
    """``'x' (3), 'y' (1)``: up to ``MAX_LISTED`` offending values, most frequent first."""
    counts = rows["failure_case"].map(shown).value_counts()
    listed = ", ".join(f"{value} ({n})" for value, n in counts.head(MAX_LISTED).items())
    more = len(counts) - MAX_LISTED
    return listed + (f" and {more} more" if more > 0 else "")


def shown(value: Any) -> str:
    text = repr(value.isoformat() if isinstance(value, dt.date) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dtype_name(dtype: Any) -> str:
    """pandas' string dtypes all read as ``str``; others as pandas spells them."""
    text = str(dtype)
    return "str" if text.startswith("string") or text == "str" else text


def _describe(column: Any, check: str, rows: Any, actual: Any = None) -> str:
    name = repr(column) if isinstance(column, str) else "the frame"
    first = rows["failure_case"].iloc[0]
    n = len(rows)
    if check == "column_in_dataframe":
        return f"missing columns: {', '.join(repr(c) for c in rows['failure_case'])}"
    if check == "column_in_schema":
        listed = ", ".join(repr(c) for c in rows["failure_case"])
        return f"unexpected columns (the schema allows no others): {listed}"
    if check == "column_ordered":
        return f"columns out of order: {', '.join(repr(c) for c in rows['failure_case'])}"
    if check.startswith("dtype("):
        expected = _dtype_name(check[len("dtype(") : -1].strip("'"))
        found = _dtype_name(actual if actual is not None else first)
        return f"column {name} has dtype {found}, expected {expected}"
    if check.startswith("coerce_dtype("):
        target = check[len("coerce_dtype(") : -1].strip("'")
        return f"column {name}: {n} values cannot be converted to {target}: {_values(rows)}"
    if check == "not_nullable":
        return f"column {name} has {n} null values (rows {_rows(rows)})"
    if check in ("known_label", "known_labels"):
        return (
            f"column {name}: {n} values are not labels: {_values(rows)}; create them "
            "with tl.Label(name=...).save()"
        )
    if rows["schema_context"].iloc[0] == "Index":
        return f"var.index: {n} invalid values ({check}): {_values(rows)}"
    return f"column {name} fails {check} in {n} rows: {_values(rows)}"


def _rows(rows: Any) -> str:
    listed = [str(i) for i in rows["index"].head(5)]
    return ", ".join(listed) + (", ..." if len(rows) > 5 else "")
