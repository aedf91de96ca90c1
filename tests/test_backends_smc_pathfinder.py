"""The ``smc`` and ``pathfinder`` backends, and third-party backends through entry points.

Tolerances (fixed before looking at results):

- SMC posterior mean and sd: within 4 Monte Carlo standard errors, ``sd / sqrt(ESS)`` for the
  mean and ``sd / sqrt(2 ESS)`` for the sd, where the particle ESS is the smaller of the
  final-stage weight ESS and ``target_ess * num_particles`` (every resampling leaves at least
  that many effective particles).
- SMC log marginal likelihood: over ``N_SEEDS`` seeds, ``|mean - truth| < 4 * sd / sqrt(N_SEEDS)
  + LOG_ML_FLOOR`` (``sd`` the spread over seeds; the floor covers the small downward bias of the
  log of an unbiased estimator).
- Pathfinder, whose approximation is exact for a Gaussian posterior: the mean within 0.1
  posterior sd.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln, gammaln

import ppl
from ppl.backends.registry import ENTRY_POINT_GROUP, available_backends, get_backend

N_SEEDS = 4
LOG_ML_FLOOR = 0.05
MCSE_TOLERANCE = 4.0
CHAINS, DRAWS = 2, 500  # 1000 particles
TARGET_ESS = 0.5

NORMAL = """
data N: int >= 0
data y: real[N]
mu ~ normal(1, 2)
y ~ normal(mu, 1.5)
"""

BETA_BINOMIAL = """
data G: int >= 1
data n: int[G] >= 0
data k: int[G] >= 0
theta ~ beta(2, 3)
k ~ binomial(n, theta)
"""


class Conjugate:
    """A model, its data, the exact posterior mean and sd of one parameter and log p(data)."""

    def __init__(self, source: str, data: dict, name: str, mean: float, sd: float,
                 log_ml: float):
        self.model = ppl.model(source)
        self.data, self.name, self.mean, self.sd, self.log_ml = data, name, mean, sd, log_ml


def normal_normal() -> Conjugate:
    y = np.random.default_rng(1).normal(2.0, 1.5, 20)
    m0, s0, s = 1.0, 2.0, 1.5
    precision = 1 / s0**2 + len(y) / s**2
    mean = (m0 / s0**2 + y.sum() / s**2) / precision
    cov = s**2 * np.eye(len(y)) + s0**2 * np.ones((len(y), len(y)))
    log_ml = stats.multivariate_normal(np.full(len(y), m0), cov).logpdf(y)
    return Conjugate(NORMAL, {"N": len(y), "y": y}, "mu", mean, precision**-0.5, log_ml)


def beta_binomial() -> Conjugate:
    n, k = np.array([10, 12, 8]), np.array([3, 5, 2])
    a, b = 2 + k.sum(), 3 + (n - k).sum()
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    log_ml = log_choose.sum() + betaln(a, b) - betaln(2, 3)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return Conjugate(BETA_BINOMIAL, {"G": 3, "n": n, "k": k}, "theta", a / (a + b), sd, log_ml)


CASES = {"normal_normal": normal_normal, "beta_binomial": beta_binomial}


@pytest.fixture(scope="module", params=list(CASES))
def smc_fits(request):
    case = CASES[request.param]()
    fits = [case.model.sample(case.data, backend="smc", chains=CHAINS, draws=DRAWS, seed=seed,
                              target_ess=TARGET_ESS, posterior_predictive=seed == 0)
            for seed in range(N_SEEDS)]
    return case, fits


def test_smc_posterior_moments_within_mcse(smc_fits):
    case, fits = smc_fits
    for fit in fits:
        draws = fit.posterior[case.name].values.ravel()
        ess = min(fit.attrs["final_ess"], TARGET_ESS * fit.attrs["num_particles"])
        mcse_mean = case.sd / np.sqrt(ess)
        mcse_sd = case.sd / np.sqrt(2 * ess)
        assert abs(draws.mean() - case.mean) < MCSE_TOLERANCE * mcse_mean
        assert abs(draws.std() - case.sd) < MCSE_TOLERANCE * mcse_sd


def test_smc_log_marginal_likelihood_matches_closed_form(smc_fits):
    case, fits = smc_fits
    estimates = np.array([fit.attrs["log_marginal_likelihood"] for fit in fits])
    spread = estimates.std(ddof=1)
    tolerance = 4 * spread / np.sqrt(N_SEEDS) + LOG_ML_FLOOR
    assert abs(estimates.mean() - case.log_ml) < tolerance, (estimates, case.log_ml)
    # The model method returns the same estimate (same seed, same number of particles).
    again = case.model.log_marginal_likelihood(case.data, num_particles=CHAINS * DRAWS, seed=0,
                                               target_ess=TARGET_ESS)
    assert again == pytest.approx(estimates[0], abs=1e-9)


def test_smc_records_schedule_trace_and_predictive(smc_fits):
    case, fits = smc_fits
    fit = fits[0]
    schedule = fit.attrs["tempering_schedule"]
    assert schedule[0] == 0.0 and schedule[-1] == 1.0
    assert np.all(np.diff(schedule) > 0)
    assert len(schedule) == fit.attrs["num_stages"] + 1
    trace = fit["smc_trace"]
    increments = trace["log_evidence_increment"].values.ravel()
    assert increments.sum() == pytest.approx(fit.attrs["log_marginal_likelihood"])
    assert trace["lambda"].values.ravel()[-1] == 1.0
    assert fit.posterior[case.name].shape == (CHAINS, DRAWS)
    assert set(fit.sample_stats.data_vars) >= {"lp", "acceptance_rate", "diverging"}
    observed = case.model.compile(case.data).observed_names[0]
    predictive = fit.posterior_predictive[observed]
    assert predictive.shape[:2] == (CHAINS, DRAWS)
    assert np.all(np.isfinite(predictive.values))


def test_smc_with_nuts_mutations():
    case = normal_normal()
    fit = case.model.sample(case.data, backend="smc", chains=1, draws=500, seed=1,
                            kernel="nuts", num_mcmc_steps=3)
    assert fit.attrs["kernel"] == "nuts"
    draws = fit.posterior[case.name].values.ravel()
    ess = min(fit.attrs["final_ess"], 0.5 * fit.attrs["num_particles"])
    assert abs(draws.mean() - case.mean) < MCSE_TOLERANCE * case.sd / np.sqrt(ess)
    assert "n_steps" in fit.sample_stats


def test_smc_rejects_improper_prior_with_located_error():
    m = ppl.model("data y: real\nmu ~ flat()\ny ~ normal(mu, 1)\n")
    with pytest.raises(ppl.SamplingError) as info:
        m.sample({"y": 0.5}, backend="smc", chains=1, draws=10, reference="prior")
    text = str(info.value)
    assert "improper" in text and "mu" in text and ":2:" in text
    assert "smc" in text


def test_smc_bad_option_is_a_sampling_error():
    case = normal_normal()
    with pytest.raises(ppl.SamplingError, match="kernel"):
        case.model.sample(case.data, backend="smc", chains=1, draws=10, kernel="gibbs")


def test_log_marginal_likelihood_without_parameters_is_exact():
    m = ppl.model("data N: int >= 0\ndata y: real[N]\ny ~ normal(0, 2)\n")
    y = np.array([0.3, -1.2, 2.0])
    assert m.log_marginal_likelihood({"N": 3, "y": y}) == pytest.approx(
        stats.norm(0, 2).logpdf(y).sum())


def test_pathfinder_lands_near_posterior_mean_and_predicts():
    case = normal_normal()
    fit = case.model.sample(case.data, backend="pathfinder", chains=2, draws=500, seed=0,
                            posterior_predictive=True)
    draws = fit.posterior[case.name].values
    assert draws.shape == (2, 500)
    assert abs(draws.mean() - case.mean) < 0.1 * case.sd
    assert abs(draws.std() - case.sd) < 0.1 * case.sd
    assert fit.attrs["num_paths"] == 2 and fit.attrs["pareto_k"] < 0.7
    assert fit.posterior_predictive["y"].shape == (2, 500, 20)


def test_pathfinder_finds_the_mean_of_a_badly_scaled_regression():
    """Unscaled predictors (IQ ~ 100) and their interaction: a narrow, strongly correlated
    valley. With a flat prior on beta its posterior mean is exactly least squares, whatever
    sigma's prior. L-BFGS stopped by a loose relative tolerance (ftol=1e-5, the old default)
    leaves the paths partway down the valley: 2.6 to 3.6 sds off, Pareto k 0.96."""
    rng = np.random.default_rng(1)
    n = 400
    hs = (rng.random(n) < 0.8).astype(float)
    iq = rng.normal(100, 15, n)
    y = 26 + 50 * hs + 0.95 * iq - 0.5 * hs * iq + rng.normal(0, 18, n)
    model = ppl.model("data N: int\ndata hs: real[N]\ndata iq: real[N]\ndata y: real[N]\n"
                      "param beta: vector[4]\nsigma ~ half_cauchy(2.5)\n"
                      "y ~ normal(beta[1] + beta[2] * hs + beta[3] * iq + beta[4] * hs .* iq, "
                      "sigma)\n")
    x = np.column_stack([np.ones(n), hs, iq, hs * iq])
    ols = np.linalg.solve(x.T @ x, x.T @ y)
    sd = np.sqrt(np.sum((y - x @ ols) ** 2) / (n - 4) * np.diag(np.linalg.inv(x.T @ x)))
    fit = model.sample({"N": n, "hs": hs, "iq": iq, "y": y}, backend="pathfinder", chains=4,
                       draws=250, seed=0)
    beta = np.asarray(fit.posterior["beta"]).reshape(-1, 4)
    assert np.all(np.abs(beta.mean(axis=0) - ols) < 0.3 * sd)
    assert np.all(np.abs(beta.std(axis=0) / sd - 1) < 0.3)


def test_builtin_registry_lists_new_backends():
    backends = available_backends()
    assert {"smc", "pathfinder"} <= set(backends)
    assert get_backend("smc").name == "smc"
    assert get_backend("pathfinder").description


GAUSS_BACKEND = '''
import numpy as np
from ppl.backends.base import BackendResult


class FixedGaussian:
    """Draws from N(3, 0.5^2) on the unconstrained space, whatever the model."""

    name = "fixed_gaussian"
    description = "test backend: a fixed Gaussian"

    def run(self, model, settings, **options):
        rng = np.random.default_rng(settings.seed)
        shape = (settings.chains, settings.draws, model.dimension)
        return BackendResult(3.0 + 0.5 * rng.standard_normal(shape),
                             attrs={"from_entry_point": 1})
'''


def test_backend_found_through_entry_point(tmp_path: Path, monkeypatch):
    """A backend in an installed distribution (a dist-info folder on sys.path, as pip leaves
    it) is found through the ``ppl.backends`` entry-point group and used by ``sample``."""
    (tmp_path / "ppl_test_gauss_backend.py").write_text(textwrap.dedent(GAUSS_BACKEND))
    dist_info = tmp_path / "ppl_test_gauss_backend-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ppl-test-gauss-backend\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nfixed_gaussian = ppl_test_gauss_backend:FixedGaussian\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ppl_test_gauss_backend", raising=False)

    assert "fixed_gaussian" in available_backends()
    fit = ppl.model(NORMAL).sample({"N": 2, "y": [0.1, 0.2]}, backend="fixed_gaussian",
                                   chains=2, draws=400)
    assert fit.attrs["backend"] == "fixed_gaussian" and fit.attrs["from_entry_point"] == 1
    assert fit.posterior["mu"].mean() == pytest.approx(3.0, abs=0.1)
