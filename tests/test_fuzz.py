"""Four seeded fuzzers kept as tests (see fuzz_support.py): mutated model text through the parser
and checker, mutated models that check through compilation, mutated data through binding and
compilation, and a sweep of argument kinds through every library function and distribution.

A case passes when it succeeds or raises a :class:`ppl.PPLError` (from the checker, one located
as ``fuzz.ppl:LINE:COL:``); anything else is an escape, reported with the text and data that
reproduce it. The default suite runs a small slice of each; ``pytest -m slow`` the long runs.

Every escape found so far is fixed; :data:`FORMER_ESCAPES` keeps one minimal reproducer of
each, with the located error that replaced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import fuzz_support as fuzz
import numpy as np
import pytest
from fuzz_support import SPD, Escape

import ppl


@dataclass(frozen=True)
class FormerEscape:
    why: str
    text: str
    data: dict
    message: str  # a regular expression for the located error that replaced the escape


# Escapes the fuzzers found (each was a traceback), with the located error each now gives.
FORMER_ESCAPES = [
    FormerEscape("add_diag accepted a non-square matrix",
                 "data m: matrix[3, 2]\ndata d: vector[3]\ny = add_diag(m, d)\n",
                 {"m": [[1, 2], [3, 4], [5, 6]], "d": [1, 2, 3]},
                 r"fuzz\.ppl:3:5: error: add_diag\(M, d\) needs a square matrix"),
    FormerEscape("add_diag accepted a diagonal vector of the wrong length",
                 "data m: matrix[3, 3]\ndata d: vector[2]\ny = add_diag(m, d)\n",
                 {"m": SPD, "d": [1, 2]},
                 r"fuzz\.ppl:3:5: error: add_diag\(M, d\): d has 2 elements, but M is 3 x 3"),
    FormerEscape("multi_normal accepted a non-square covariance matrix",
                 "data S: matrix[3, 2]\ndata z: vector[3]\nmu: vector[3] ~ normal(0, 1)\n"
                 "z ~ multi_normal(mu, S)\n",
                 {"S": [[1, 2], [3, 4], [5, 6]], "z": [1, 2, 3]},
                 r"fuzz\.ppl:4:22: error: argument Sigma of multi_normal must be a square "
                 r"matrix"),
    FormerEscape("lkj_corr_cholesky accepted a vector eta (a scalar concentration)",
                 "data z: matrix[3, 3]\neta: simplex[3] ~ dirichlet([1, 1, 1])\n"
                 "z ~ lkj_corr_cholesky(eta)\n",
                 {"z": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
                 r"fuzz\.ppl:3:23: error: argument eta of lkj_corr_cholesky must be a scalar"),
    FormerEscape("a list holding a list where a number belongs, while the size N is inferred",
                 "data N: int\ndata y: real[N]\n", {"y": [1.0, [1, "a"], 2.0]},
                 r"fuzz\.ppl:2:6: error: data 'y' is ragged: row \[2\] has 2 entries where "
                 r"row \[1\] is a single number"),
    FormerEscape("a ragged array unrelated to the size being inferred (np.shape raised)",
                 "data K: int\ndata T: int\ndata y: real[T]\nbeta: vector[K] ~ normal(0, 1)\n",
                 {"T": 3, "y": [0.5, [[1]], 2.0]},
                 r"fuzz\.ppl:2:6: error: data 'K' is missing|fuzz\.ppl:3:6: error: data 'y' is "
                 r"ragged"),
    FormerEscape("a user-defined function that calls itself (evaluating it never ended)",
                 "function f(x: real): real = f(x)\ndata r: real\ny = f(r)\n", {"r": 1.0},
                 r"fuzz\.ppl:1:10: error: f\(\) calls itself"),
    FormerEscape("a discrete latent indexing a vector of size 0 (IndexError from jnp.take)",
                 "mu: ordered[-0] ~ normal(0, 2)\ntheta ~ beta(5, 5)\ndata N: int\n"
                 "data y: vector[N]\nz[n] ~ categorical([theta, 1 - theta]) for n in 1:N\n"
                 "y[n] ~ normal(mu[z[n]], 1) for n in 1:N\n",
                 {"N": 3, "y": [0.5, -1.0, 2.0]}, ""),
    FormerEscape("the definition order recursed once per link of a long dependency chain",
                 "data x: real\nmu ~ normal(0, 1)\ny1 = mu\n"
                 + "".join(f"y{i} = y{i - 1} + 1\n" for i in range(2, 1200))
                 + "x ~ normal(y1199, 1)\n",
                 {"x": 1.0}, ""),
]


@pytest.mark.parametrize("case", FORMER_ESCAPES, ids=lambda c: c.why[:40])
def test_former_escapes_are_located_errors_or_work(case):
    """Each escape the fuzzers found is now a located error with the expected message (or,
    with an empty message, works)."""
    bad = fuzz.outcome(lambda: fuzz._compile_and_evaluate(case.text, case.data), located=True)
    assert bad is None, bad
    if not case.message:
        fuzz._compile_and_evaluate(case.text, case.data)
        return
    with pytest.raises(ppl.PPLError) as caught:
        fuzz._compile_and_evaluate(case.text, case.data)
    assert re.search(case.message, str(caught.value)), str(caught.value)


def assert_no_escapes(run: fuzz.Run) -> None:
    assert run.cases > 0, "the fuzzer ran no case"
    escapes = run.escapes
    assert not escapes, (f"{len(escapes)} of {run.cases} cases escaped; the first:\n\n"
                         + "\n\n".join(e.report() for e in escapes[:5]))


@pytest.fixture(scope="module", autouse=True)
def _strict_rank_promotion():
    """conftest.py makes JAX strict; said again here so the fuzzers run the same way alone."""
    import jax

    jax.config.update("jax_numpy_rank_promotion", "raise")


def test_the_corpus_has_models_and_data():
    items = fuzz.corpus()
    assert any(name == "eight_schools" for name, _, _ in items)
    assert any(data is not None for _, _, data in items)


@pytest.mark.parametrize("name", sorted(fuzz.SYNTAX_MODELS))
def test_the_syntax_models_compile(name):
    """The models that carry the newer syntax into the fuzzers are valid and compile, so
    that their mutations start from working models."""
    text, data = fuzz.SYNTAX_MODELS[name]
    assert fuzz.outcome(lambda: fuzz.evaluate(ppl.model(text, fuzz.NAME).compile(data)),
                        located=False) is None
    ppl.model(text, fuzz.NAME).compile(data)


def test_mutation_is_seeded_and_changes_text():
    text = fuzz.corpus()[0][1]
    assert fuzz.mutate(text, np.random.default_rng(7)) == fuzz.mutate(text,
                                                                       np.random.default_rng(7))
    rng = np.random.default_rng(8)
    assert sum(fuzz.mutate(text, rng) != text for _ in range(20)) >= 15


def test_an_escape_is_caught_and_reported(monkeypatch):
    """The harness itself: an exception other than PPLError is an escape, with its text."""
    import sys

    def broken(*args, **kwargs):
        raise ValueError("deliberately broken compile")

    monkeypatch.setattr(sys.modules["ppl.model"], "compile_graph", broken)
    text = "mu ~ normal(0, 1)\n"
    bad = fuzz.outcome(lambda: fuzz._compile_and_evaluate(text, {}), located=False)
    assert bad == ("ValueError", "deliberately broken compile")
    report = Escape("sweep", *bad, text, {}).report()
    assert "mu ~ normal(0, 1)" in report and "ValueError" in report


def test_an_unlocated_model_error_counts_as_an_escape():
    import ppl
    from ppl.errors import ModelError

    def raise_unlocated():
        raise ModelError([ppl.errors.error("no place")])

    assert fuzz.outcome(raise_unlocated, located=True)[0] == "UnlocatedPPLError"
    assert fuzz.outcome(raise_unlocated, located=False) is None


# -- fast slices (default suite) -----------------------------------------------------------

def test_fuzz_check_fast():
    assert_no_escapes(fuzz.fuzz_check(800, seed=1))


def test_fuzz_compile_fast():
    assert_no_escapes(fuzz.fuzz_compile(2, seed=1))


def test_fuzz_data_fast():
    assert_no_escapes(fuzz.fuzz_data(30, seed=1))


def test_fuzz_sweep_fast():
    assert_no_escapes(fuzz.fuzz_sweep(100, seed=1))


def test_sweep_covers_every_function_and_distribution():
    from ppl.library.distributions import DISTRIBUTIONS
    from ppl.library.functions import FUNCTIONS

    texts = "\n".join(text for text, _ in fuzz.sweep_cases())
    for name in list(FUNCTIONS) + list(DISTRIBUTIONS):
        assert re.search(rf"\b{name}\(", texts), name


# -- long runs (pytest -m slow) ------------------------------------------------------------

@pytest.mark.slow
def test_fuzz_check_long():
    assert_no_escapes(fuzz.fuzz_check(20000, seed=2024))


@pytest.mark.slow
def test_fuzz_compile_long():
    assert_no_escapes(fuzz.fuzz_compile(600, seed=2024))


@pytest.mark.slow
def test_fuzz_data_long():
    assert_no_escapes(fuzz.fuzz_data(5000, seed=2024))


@pytest.mark.slow
def test_fuzz_sweep_long():
    assert_no_escapes(fuzz.fuzz_sweep(2500, seed=2024))
