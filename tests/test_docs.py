"""The docs cannot drift: the reference tables are regenerated from the registries and compared
with the committed files, every ```ppl block in the docs and the README parses and checks, and
docs/cli.md covers every subcommand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ppl
from ppl import docs
from ppl.cli import _parser
from ppl.library import DISTRIBUTIONS, FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```ppl[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _ppl_blocks() -> list[tuple[str, int, str]]:
    """``(file, line, code)`` of every ```ppl block in docs/*.md and README.md."""
    blocks = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 2  # the block's first line of code
            blocks.append((str(path.relative_to(ROOT)), line, match.group(1)))
    return blocks


BLOCKS = _ppl_blocks()


@pytest.mark.parametrize("name", sorted(docs.generated_files()))
def test_generated_reference_is_up_to_date(name):
    expected = docs.generated_files()[name]
    path = DOCS / name
    assert path.is_file(), f"{path} is missing: run `python -m ppl.docs`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"docs/{name} differs from the registries: run `python -m ppl.docs` and commit it")


def test_every_registry_entry_has_a_row():
    distributions = docs.distributions_markdown()
    for name in DISTRIBUTIONS:
        assert f"| `{name}` |" in distributions, name
    functions = docs.functions_markdown()
    for name in FUNCTIONS:
        assert f"| `{name}` |" in functions, name
    for text in (distributions, functions):
        header = next(line for line in text.splitlines() if line.startswith("| "))
        columns = header.count("|")
        rows = [line for line in text.splitlines() if line.startswith("| `")]
        assert all(row.count("|") - row.count("\\|") == columns for row in rows)


def test_support_is_described_for_every_distribution():
    for spec in DISTRIBUTIONS.values():
        assert docs.support_text(spec), spec.name
    assert docs.support_text(DISTRIBUTIONS["uniform"]) == "alpha < x < beta"
    assert docs.support_text(DISTRIBUTIONS["binomial"]) == "0, 1, ..., N"


def test_docs_command_writes_and_checks(tmp_path, capsys):
    assert docs.main(["--check", "--out", str(tmp_path)]) == 1
    assert "is out of date: run `python -m ppl.docs`" in capsys.readouterr().err
    assert docs.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(docs.generated_files())
    assert docs.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "functions.md").write_text("stale\n")
    assert docs.stale_files(tmp_path) == ["functions.md"]


def test_there_are_ppl_blocks():
    files = {file for file, _, _ in BLOCKS}
    assert {"README.md", "docs/language.md"} <= files
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("file,line,code", BLOCKS, ids=[f"{f}:{n}" for f, n, _ in BLOCKS])
def test_ppl_block_parses_and_checks(file, line, code):
    ppl.model(code, name=f"{file} (block at line {line})")


def test_language_reference_marks_every_example_block():
    text = (DOCS / "language.md").read_text(encoding="utf-8")
    fences = re.findall(r"^```(\S*)", text, re.M)
    openings = fences[0::2]
    assert all(info in ("ppl", "text") for info in openings), openings


def test_cli_doc_covers_every_subcommand():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        assert f"ppl {command}" in text, f"docs/cli.md does not describe `ppl {command}`"


def test_docs_links_resolve():
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).is_file(), f"{path.name}: broken link {target}"
