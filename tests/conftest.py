"""Shared test set-up.

JAX is made strict about rank promotion, so that a silent broadcast between arrays of different
ranks (the (N,1) x (N) -> (N,N) kind of bug) fails a test instead of giving a wrong number.
Golden files (tests/golden/) are rewritten instead of compared when PPL_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _check_golden(path: Path, actual: str) -> None:
    if os.environ.get("PPL_UPDATE_GOLDEN") == "1":
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run the tests with PPL_UPDATE_GOLDEN=1 to "
                    "create it, then review it by eye")
    expected = path.read_text()
    assert actual == expected, (f"output differs from {path.name} (PPL_UPDATE_GOLDEN=1 rewrites "
                                f"it):\n--- expected\n{expected}\n--- actual\n{actual}")


@pytest.fixture
def golden():
    """``golden(path, text)``: compare ``text`` with a golden file (or rewrite it)."""
    return _check_golden


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES
