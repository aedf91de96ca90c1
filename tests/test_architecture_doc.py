"""docs/architecture.md shows one model at each stage; these dumps are recomputed here, so the
page fails the suite when the code no longer prints what it says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax.numpy as jnp
import pytest

import ppl
from ppl.frontend.check import check
from ppl.frontend.parse import parse
from ppl.source import Source

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
MODEL = ROOT / "examples" / "eight_schools.ppl"
DATA = json.loads((ROOT / "examples" / "eight_schools.json").read_text())


def documented(stage: str) -> str:
    """The code block after ``<!-- stage: NAME -->`` in the page."""
    found = re.search(rf"<!-- stage: {stage} -->\n```\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"no '{stage}' block in {DOC.name}"
    return found.group(1)


def check_dump() -> str:
    checked = check(parse(Source(MODEL.read_text(), MODEL.name)), Source(MODEL.read_text()),
                    {"J": DATA["J"]})
    lines = []
    for s in checked.symbols.values():
        deps = f"  <- {', '.join(sorted(s.depends))}" if s.depends else ""
        lines.append(f"{s.name:<10} {s.kind:<11} {s.type.describe()}{deps}")
    return "\n".join(lines) + "\n"


def compile_dump() -> str:
    compiled = ppl.load(MODEL).compile(DATA)
    u = jnp.zeros(compiled.dimension)
    lines = [f"{b.name:<10} offset {b.offset}  shape {b.shape}" for b in compiled.blocks]
    lines.append(f"log_density = {float(compiled.log_density(u)):.4f} = log_prior "
                 f"{float(compiled.log_prior(u)):.4f} + log_likelihood "
                 f"{float(compiled.log_likelihood(u)):.4f}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("stage, dump", [
    ("check", check_dump),
    ("lower", lambda: ppl.load(MODEL).ir(DATA)),
    ("compile", compile_dump),
])
def test_the_stage_dumps_in_the_architecture_page_are_what_the_code_prints(stage, dump):
    assert documented(stage) == dump()


def test_the_page_names_modules_that_exist():
    for path in re.findall(r"`(ppl/[\w/]+\.py)`", DOC.read_text()):
        assert (ROOT / path).exists(), path
