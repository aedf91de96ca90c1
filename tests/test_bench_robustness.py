"""The fast part of benchmarks/bench_robustness.py: a few seeds of two cases must give no bad
fit that goes unflagged, and the reference checkers must be able to fail (a shifted mean, a
30% too small sd, chains that disagree) as well as pass on draws from the right distribution.
The full benchmark (ten seeds, every case) is run by hand: see its docstring."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import KIT  # noqa: E402
from benchmarks.bench_robustness import (  # noqa: E402
    all_cases,
    check_long_run,
    check_nan_gradient,
    moment_errors,
    nan_gradient_reference,
    parse_seeds,
    run_case,
)

# Fixed in advance; the benchmark's shorter runs keep this file under about 90 s.
FAST_SEEDS = [0, 1, 2]
FAST_CASES = ["nan_gradient", "eight_schools_noncentered"]
CHAINS, DRAWS, WARMUP = 4, 500, 500


@pytest.fixture(scope="module")
def toy_reference() -> dict[str, tuple[float, float]]:
    return nan_gradient_reference()


def exact_toy_draws(seed: int, shape=(4, 1000)) -> np.ndarray:
    """Independent draws from the toy's exact posterior, lognormal(0, 1) times
    exp(exp(-500 l^2)): lognormal proposals accepted with probability exp(exp(-500 l^2) - 1),
    the density ratio over its bound e."""
    rng = np.random.default_rng(seed)
    proposals = rng.lognormal(0.0, 1.0, 4 * int(np.prod(shape)))
    accepted = proposals[rng.uniform(size=proposals.size)
                         < np.exp(np.exp(-500.0 * proposals ** 2) - 1.0)]
    return accepted[:int(np.prod(shape))].reshape(shape)


def fit_of(**draws: np.ndarray) -> dict:
    """The part of a fit the checkers read: a posterior group of (chain, draw) arrays."""
    return {"posterior": xr.Dataset({name: (("chain", "draw"), values)
                                     for name, values in draws.items()})}


@pytest.mark.filterwarnings("ignore:.*data entries not used")  # the kit's files hold extras
@pytest.mark.parametrize("seed", FAST_SEEDS)
@pytest.mark.parametrize("name", FAST_CASES)
def test_no_bad_fit_goes_unflagged(name: str, seed: int) -> None:
    case = next(c for c in all_cases() if c.name == name)
    if case.uses_kit and not (KIT / "check.py").is_file():
        pytest.skip(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR)")
    result = run_case(case, seed, CHAINS, DRAWS, WARMUP)
    assert not result.bad_unflagged, (
        f"{name} seed {seed}: the fit does not match its reference ({result.detail}) and no "
        "warning was issued")


def test_moment_check_passes_correct_draws_and_fails_wrong_ones() -> None:
    rng = np.random.default_rng(20261203)
    draws = rng.normal(3.0, 2.0, (4, 1000))
    assert moment_errors(draws, 3.0, 2.0) == []
    # 0.25 sd is about 16 MCSEs of a 4 000-draw mean: far past the 4-MCSE tolerance
    assert any("mean" in p for p in moment_errors(draws + 0.5, 3.0, 2.0))
    # a 30% too small spread is about 27 MCSEs of the sd
    assert any("sd" in p for p in moment_errors(3.0 + 0.7 * (draws - 3.0), 3.0, 2.0))
    assert moment_errors(np.full((4, 1000), np.nan), 3.0, 2.0) == ["non-finite draws"]


def test_toy_reference_matches_exact_draws(toy_reference) -> None:
    # The quadrature against lognormal(0, 1), whose moments it nearly equals: the factor
    # exp(exp(-500 l^2)) only reweights l < 0.2, where the lognormal has little mass.
    mean, sd = toy_reference["l"]
    assert abs(mean - np.exp(0.5)) < 0.01 and abs(sd - np.sqrt((np.e - 1) * np.e)) < 0.01
    for seed in range(3):
        verdict = check_nan_gradient(fit_of(l=exact_toy_draws(seed)), toy_reference)
        assert verdict.matched, verdict.detail


def test_toy_check_fails_a_shifted_mean_or_a_narrow_spread(toy_reference) -> None:
    draws = exact_toy_draws(7)
    shifted = check_nan_gradient(fit_of(l=draws * np.exp(0.2)), toy_reference)  # log l + 0.2
    assert not shifted.matched and "log_l: mean" in shifted.detail
    logs = np.log(draws)
    narrow = np.exp(logs.mean() + 0.7 * (logs - logs.mean()))  # 30% too small sd of log l
    verdict = check_nan_gradient(fit_of(l=narrow), toy_reference)
    assert not verdict.matched and "log_l: sd" in verdict.detail
    # chains stuck at their starting points (the failure this toy provokes)
    stuck = np.repeat(np.array([[0.4], [1.0], [1.5], [3.5]]), 1000, axis=1)
    assert not check_nan_gradient(fit_of(l=stuck), toy_reference).matched


def test_long_run_check_uses_both_errors_and_r_hat() -> None:
    rng = np.random.default_rng(20261204)
    reference = {"params": {"a": {"mean": 1.0, "sd": 0.5, "mcse_mean": 0.004, "mcse_sd": 0.003},
                            "b": {"mean": -2.0, "sd": 1.0, "mcse_mean": 0.008, "mcse_sd": 0.006}}}
    a, b = rng.normal(1.0, 0.5, (4, 1000)), rng.normal(-2.0, 1.0, (4, 1000))
    assert check_long_run(fit_of(a=a, b=b), reference).matched
    assert not check_long_run(fit_of(a=a + 0.1, b=b), reference).matched  # 0.2 sd: ~11 SEs
    assert not check_long_run(fit_of(a=a, b=-2.0 + 0.7 * (b + 2.0)), reference).matched
    # one chain apart: the pooled moments can still be close, R-hat is not
    split = b.copy()
    split[0] += 0.5
    split[1:] -= 0.5 / 3
    verdict = check_long_run(fit_of(a=a, b=split), reference)
    assert not verdict.matched and "R-hat" in verdict.detail
    assert "missing" in check_long_run(fit_of(a=a), reference).detail


def test_benchmark_runs_every_posterior_of_the_conformance_test() -> None:
    # The list is read from the test file (not imported: it is a pytest module of another folder)
    tree = ast.parse((ROOT / "tests" / "conformance" / "test_conformance.py").read_text())
    listed = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", "") == "POSTERIORS" for t in node.targets))
    names = {c.name for c in all_cases()}
    assert set(listed) <= names
    assert {"nan_gradient", "arma11", "hsgp", "eight_schools_centered",
            "eight_schools_noncentered"} <= names
    for case in all_cases():
        assert case.model_path.is_file(), case.model_path


def test_parse_seeds() -> None:
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5") == [5]
    assert parse_seeds("0,2,5-6") == [0, 2, 5, 6]
