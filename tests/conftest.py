"""Shared test set-up.

JAX is made strict about rank promotion, so that a silent broadcast between arrays of different
ranks (the (N,1) x (N) -> (N,N) kind of bug) fails a test instead of giving a wrong number, and
computes in 64-bit (see below).
Golden files (tests/golden/) are rewritten instead of compared when PPL_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

# The suite's NUTS runs keep JAX's single CPU device (vectorised chains), as they were seeded
# and measured with; tests/test_host_devices.py checks the parallel default in fresh processes.
os.environ.setdefault("PPL_HOST_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
# The tests make their own JAX arrays (parameter values, expected densities) and compare them
# with SciPy at float64 tolerances, so this process computes in 64-bit, as a user's own JAX
# code that wants float64 must (docs/python-api.md). ppl itself needs no such setting: its
# calls turn 64-bit on and back off, which tests/test_jax_settings.py checks in fresh
# processes, where nothing is set beforehand.
jax.config.update("jax_enable_x64", True)

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
