"""Conformance of the other backends on the kit's regression posteriors.

The same kit, models and data as ``test_conformance.py`` (read at run time from
``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``; skipped without it), run with:

- ``backend="smc"`` with its default options (``reference="auto"``: tempering from the Laplace
  Gaussian when a prior is flat, as in most of these models, from the prior otherwise), seed 0,
  ``chains=4, draws=250``, i.e. 1000 particles. The final stage mutates every particle after
  resampling, so the draws are close to independent; the kit's ``check.py`` with its default
  thresholds (|z| < 5 for every mean, sd within 15 %) must pass.
- ``backend="advi", family="fullrank"``. Variational inference is *approximate*: the fitted
  Gaussian is not the posterior, so the check is looser, computed here from ``reference.json``:
  ``|mean_est - mean_ref| < 0.25 sd_ref`` and ``|sd_est / sd_ref - 1| < 0.30`` for every
  reference parameter. ADVI runs with its default options; its default ``init="laplace"``
  preconditions the optimisation with the Laplace approximation at the mode, without which
  Adam does not converge on these badly scaled regressions.
- ``backend="pathfinder"`` with its default options: the same check as ADVI's with the mean
  tolerance of issue 17, ``|mean_est - mean_ref| < 0.3 sd_ref`` (and the sd within 30 %).

diamonds-diamonds is not run here: its 26 strongly correlated coefficients have proper priors,
so SMC tempers from the prior, which takes minutes and with the diagonal mass matrix does not
mix (checked: 429 s, FAIL with 1000 particles). Its NUTS conformance is in
``test_conformance.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conformance_kit import load_posterior, reference_names, run_check

from ppl.summary import flat_draws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import REGRESSION_POSTERIORS  # noqa: E402

POSTERIORS = list(REGRESSION_POSTERIORS)

# Fixed before looking at any result.
SEED = 0
CHAINS, DRAWS = 4, 250  # 1000 SMC particles / ADVI draws
# ADVI: the looser tolerances for an approximate method (see the module docstring).
VI_MEAN_TOL = 0.25  # in reference posterior sds
VI_SD_TOL = 0.30  # relative
# Pathfinder: the target set in issue 17 (its draws against the reference means).
PATHFINDER_MEAN_TOL = 0.3  # in reference posterior sds
# Default options: ADVI starts from the Laplace approximation at the mode (init="laplace"),
# which is what makes these badly scaled, strongly correlated regressions converge (from a
# random start Adam left kidiq_interaction and kilpisjarvi ~2 sd off, sblrc's sds ~50 % off).
ADVI_OPTIONS = {"family": "fullrank"}

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.filterwarnings("ignore:.*data entries not used by the model"),
]


@pytest.mark.parametrize("name", POSTERIORS)
def test_smc_reference_posterior(name: str, kit: Path, tmp_path: Path, record_property) -> None:
    model, data, reference = load_posterior(kit, name)
    start = time.perf_counter()
    fit = model.sample(data=data, backend="smc", chains=CHAINS, draws=DRAWS, seed=SEED,
                       var_names=reference_names(reference))
    seconds = time.perf_counter() - start
    record_property("sampling_seconds", round(seconds, 1))

    result, summary = run_check(kit, name, fit, tmp_path)
    print(f"{name} smc ({fit.attrs['smc_reference']}, {fit.attrs['num_stages']} stages): "
          f"{seconds:.1f} s; {summary}")
    assert result.returncode == 0, (
        f"check.py exited with {result.returncode} for {name} with smc (seed {SEED}):\n"
        f"{result.stdout}{result.stderr}")


def _approximation_failures(fit, reference: dict, mean_tol: float) -> tuple[list[str], str]:
    """Each reference parameter whose mean is ``mean_tol`` reference sds off or more, or whose
    sd is ``VI_SD_TOL`` off or more; and a one-line summary of the worst errors."""
    draws = flat_draws(fit)
    failures = []
    worst_mean = worst_sd = 0.0
    for param, ref in reference["params"].items():
        x = np.asarray(draws[param], dtype=float).ravel()
        mean_err = abs(x.mean() - ref["mean"]) / ref["sd"]
        sd_err = abs(x.std(ddof=1) / ref["sd"] - 1)
        worst_mean, worst_sd = max(worst_mean, mean_err), max(worst_sd, sd_err)
        if mean_err >= mean_tol or sd_err >= VI_SD_TOL:
            failures.append(f"{param}: |mean error| = {mean_err:.3f} sd, "
                            f"|sd ratio - 1| = {sd_err:.3f}")
    return failures, f"max mean error {worst_mean:.3f} sd, max sd error {worst_sd:.3f}"


@pytest.mark.parametrize("name", POSTERIORS)
def test_fullrank_advi_reference_posterior(name: str, kit: Path, record_property) -> None:
    model, data, reference = load_posterior(kit, name)
    start = time.perf_counter()
    fit = model.sample(data=data, backend="advi", chains=CHAINS, draws=DRAWS, seed=SEED,
                       var_names=reference_names(reference), **ADVI_OPTIONS)
    seconds = time.perf_counter() - start
    record_property("sampling_seconds", round(seconds, 1))

    failures, worst = _approximation_failures(fit, reference, VI_MEAN_TOL)
    print(f"{name} advi fullrank: {seconds:.1f} s; {worst}")
    assert not failures, (f"full-rank ADVI misses the reference for {name} (seed {SEED}):\n"
                          + "\n".join(failures))


@pytest.mark.parametrize("name", POSTERIORS)
def test_pathfinder_reference_posterior(name: str, kit: Path, record_property) -> None:
    model, data, reference = load_posterior(kit, name)
    start = time.perf_counter()
    fit = model.sample(data=data, backend="pathfinder", chains=CHAINS, draws=DRAWS, seed=SEED)
    seconds = time.perf_counter() - start
    record_property("sampling_seconds", round(seconds, 1))

    failures, worst = _approximation_failures(fit, reference, PATHFINDER_MEAN_TOL)
    print(f"{name} pathfinder: {seconds:.1f} s; {worst}; Pareto k {fit.attrs['pareto_k']:.2f}")
    assert not failures, (f"Pathfinder misses the reference for {name} (seed {SEED}):\n"
                          + "\n".join(failures))
