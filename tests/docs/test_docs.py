"""The docs are checked against the code: examples, commands, public names, errors.

- Every ``<!-- example: NAME -->`` block in docs/*.md is byte-identical to the code between
  ``# -- start NAME --`` and ``# -- end NAME --`` in tests/docs (dedented), and every
  Python block in the docs is such an example, so each one runs as a test.
- Every CLI command has help text and a section in docs/cli.md, which is current
  (``scripts/cli_reference.py --check``).
- Every name in ``threadline.__all__`` and ``threadline.adapters.__all__`` is mentioned,
  adapter functions with their exact signatures; every error class is on docs/errors.md.

``python tests/docs/test_docs.py --fix`` rewrites the example blocks in docs/ from tests.
"""

import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HERE = Path(__file__).resolve().parent

START = re.compile(r"^\s*# -- start (?P<name>[\w-]+) --\s*$")
END = re.compile(r"^\s*# -- end (?P<name>[\w-]+) --\s*$")
BLOCK = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.S)
FENCE = re.compile(r"^```(?P<lang>\w*)", re.M)


def example_regions() -> dict[str, str]:
    """NAME -> dedented code between the markers, from every tests/docs/*.py."""
    found: dict[str, str] = {}
    for path in sorted(HERE.glob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        open_name, start = None, 0
        for number, line in enumerate(lines):
            if (match := START.match(line)) is not None:
                assert open_name is None, f"{path.name}:{number + 1}: nested example"
                open_name, start = match["name"], number + 1
            elif (match := END.match(line)) is not None:
                assert match["name"] == open_name, f"{path.name}:{number + 1}: stray end"
                assert open_name not in found, f"example {open_name!r} defined twice"
                found[open_name] = textwrap.dedent("".join(lines[start:number]))
                open_name = None
        assert open_name is None, f"{path.name}: example {open_name!r} never ends"
    return found


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def doc_examples() -> list[tuple[str, str, str]]:
    """(page, NAME, code) for every example block in the docs."""
    return [
        (page.name, m["name"], m["code"])
        for page in pages()
        for m in BLOCK.finditer(page.read_text())
    ]


def all_docs_text() -> str:
    return "\n".join(page.read_text() for page in pages())


# -- examples -----------------------------------------------------------------------------------


def test_docs_exist():
    names = {p.name for p in pages()}
    assert {
        "index.md",
        "configuration.md",
        "artifacts.md",
        "tracking.md",
        "query.md",
        "features.md",
        "lineage.md",
        "errors.md",
        "adapters.md",
        "cli.md",
        "engines.md",
    } <= names


@pytest.mark.parametrize(
    "page, name, code", doc_examples(), ids=[f"{p}:{n}" for p, n, _ in doc_examples()]
)
def test_example_block_matches_tested_code(page, name, code):
    regions = example_regions()
    assert name in regions, f"{page}: example {name!r} has no region in tests/docs"
    assert code == regions[name], (
        f"{page}: example {name!r} differs from tests/docs; "
        "run python tests/docs/test_docs.py --fix"
    )


def test_every_python_block_is_a_tested_example():
    for page in pages():
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match["lang"] != "python":
                continue
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            assert before.startswith("<!-- example: "), (
                f"{page.name}: a python block without <!-- example: NAME --> "
                f"at line {text[: match.start()].count(chr(10)) + 1}"
            )


def test_every_example_region_is_used():
    used = {name for _, name, _ in doc_examples()}
    unused = sorted(set(example_regions()) - used)
    assert unused == [], f"examples in tests/docs that no page includes: {unused}"


def test_pages_link_to_existing_pages():
    for page in pages():
        for target in re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (DOCS / target).is_file(), f"{page.name} links to missing {target}"
    index = (DOCS / "index.md").read_text()
    missing = [p.name for p in pages() if p.name != "index.md" and f"({p.name})" not in index]
    assert missing == [], f"index.md does not link to {missing}"


def test_no_placeholders():
    for page in pages():
        text = page.read_text().lower()
        for marker in ("todo", "tbd", "fixme", "xxx", "lorem", "coming soon"):
            assert marker not in text, f"{page.name} contains {marker!r}"


# -- the CLI ------------------------------------------------------------------------------------


def cli_commands() -> list[tuple[str, click.Command]]:
    from threadline.cli import main

    found = []

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in group.commands.items():
            found.append((f"{prefix} {name}", command))
            if isinstance(command, click.Group):
                walk(command, f"{prefix} {name}")

    walk(main, "threadline")
    return found


@pytest.mark.parametrize("path", [p for p, _ in cli_commands()])
def test_cli_command_documented_with_help(path):
    command = dict(cli_commands())[path]
    assert command.help and command.help.strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{path} {param.opts[0]} has no help text"
    text = (DOCS / "cli.md").read_text()
    assert f"## `{path}`" in text, f"docs/cli.md has no section for {path}"
    assert f"Usage: {path} " in text


def test_cli_reference_is_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_cli_reference_check_detects_staleness(tmp_path):
    """``--check`` really compares: a page with one changed character is stale."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    page = tmp_path / "cli.md"
    page.write_text(module.render().replace("Usage:", "Usage;", 1))
    module.PAGE = page
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0 and module.main(["--check"]) == 0


# -- public names -------------------------------------------------------------------------------


def test_every_public_name_is_documented():
    import threadline

    text = all_docs_text()
    missing = [n for n in threadline.__all__ if not re.search(rf"\btl\.{n}\b", text)]
    assert missing == [], f"not mentioned as tl.NAME in docs/: {missing}"


def signature_text(function: object) -> str:
    """``name(a, b=None, *, c=1)``: the signature without annotations."""
    sig = inspect.signature(function)  # type: ignore[arg-type]
    bare = sig.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return f"{function.__name__}{bare}"  # type: ignore[attr-defined]


def test_every_adapter_function_documented_with_signature():
    from threadline import adapters

    text = (DOCS / "adapters.md").read_text()
    problems = []
    for name in adapters.__all__:
        obj = getattr(adapters, name)
        if f"`{name}`" not in text and f"`{name}(" not in text:
            problems.append(f"{name}: not mentioned")
        elif inspect.isfunction(obj) and f"### `{signature_text(obj)}`" not in text:
            problems.append(f"{name}: no heading ### `{signature_text(obj)}`")
        elif inspect.isclass(obj) and f"### `{name}(" not in text:
            problems.append(f"{name}: no heading ### `{name}(...)`")
        elif f"<!-- example: adapter-{name.replace('_', '-').lower()} -->" not in text:
            problems.append(f"{name}: no example named adapter-{name.replace('_', '-').lower()}")
    assert problems == []


def test_every_error_class_on_errors_page():
    from threadline import errors

    text = (DOCS / "errors.md").read_text()
    missing = [n for n in errors.__all__ if f"`{n}`" not in text]
    assert missing == [], f"docs/errors.md does not describe {missing}"
    tree = errors.__doc__.split("\n\n")[1]  # type: ignore[union-attr]
    assert textwrap.dedent(tree) in text, "docs/errors.md lacks the tree from errors.py"


# -- fixing -------------------------------------------------------------------------------------


def fix() -> None:
    """Rewrite every example block in docs/ from its region in tests/docs."""
    regions = example_regions()
    for page in pages():
        text = page.read_text()
        new = BLOCK.sub(
            lambda m: (
                f"<!-- example: {m['name']} -->\n```python\n{regions.get(m['name'], m['code'])}```"
            ),
            text,
        )
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--fix"]:
        sys.exit("usage: python tests/docs/test_docs.py --fix")
    fix()
