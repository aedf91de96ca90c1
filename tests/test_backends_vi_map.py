"""The ``advi`` and ``map`` backends against analytic posteriors.

Tolerances: draws are 4 x 1000 independent draws from the fitted approximation, so a sample
mean has a Monte Carlo error of about 0.016 sd and a sample sd about 1.1 %; the bounds below are
several of those errors wide, and wider where the optimiser's own noise adds to it.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import ppl
from ppl.backends.advi import FullRank, MeanField, resolve_family
from ppl.backends.optimise import laplace_covariance, map_objective
from ppl.backends.registry import available_backends

REGRESSION = """
data N: int >= 1
data x: vector[N]
data y: vector[N]
a ~ normal(0, 10)
b ~ normal(0, 10)
y ~ normal(a + b * x, 1.5)
"""

CORRELATED = """
data m: vector[2]
data S: matrix[2, 2]
x: vector[2] ~ multi_normal(m, S)
"""

GAMMA_POISSON = """
data N: int >= 1
data y: int[N]
lam ~ gamma(3, 2)
y ~ poisson(lam)
"""


@pytest.fixture(scope="module")
def regression():
    """A conjugate linear regression with known noise: the posterior of (a, b) is Gaussian
    and strongly correlated (x is not centred)."""
    rng = np.random.default_rng(7)
    x = np.linspace(1.0, 5.0, 15)
    y = 1.0 + 0.7 * x + rng.normal(0.0, 1.5, x.size)
    design = np.column_stack([np.ones_like(x), x])
    precision = design.T @ design / 1.5 ** 2 + np.eye(2) / 100.0
    cov = np.linalg.inv(precision)
    mean = cov @ design.T @ y / 1.5 ** 2
    marginal = 1.5 ** 2 * np.eye(x.size) + 100.0 * design @ design.T
    sign, logdet = np.linalg.slogdet(2 * np.pi * marginal)
    log_evidence = -0.5 * (logdet + y @ np.linalg.solve(marginal, y))
    return {"model": ppl.model(REGRESSION), "data": {"N": x.size, "x": x, "y": y},
            "mean": mean, "cov": cov, "log_evidence": log_evidence, "design": design}


@pytest.fixture(scope="module")
def gamma_poisson():
    y = np.array([2, 4, 1, 3, 5, 2, 0, 3])
    return {"model": ppl.model(GAMMA_POISSON), "data": {"N": y.size, "y": y},
            "shape": 3 + y.sum(), "rate": 2 + y.size}


def _ab(fit) -> np.ndarray:
    return np.stack([fit.posterior["a"].values.ravel(), fit.posterior["b"].values.ravel()], 1)


def _check_gaussian(draws, mean, cov, mean_tol, sd_rtol, corr_tol):
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean) / sd, mean_tol)
    np.testing.assert_allclose(draws.std(0), sd, rtol=sd_rtol)
    corr = cov[0, 1] / (sd[0] * sd[1])
    assert abs(np.corrcoef(draws.T)[0, 1] - corr) < corr_tol


def test_backends_are_registered():
    backends = available_backends()
    assert {"advi", "map"} <= set(backends)


def test_fullrank_advi_recovers_conjugate_posterior(regression):
    fit = regression["model"].sample(regression["data"], backend="advi", family="fullrank",
                                     seed=1, posterior_predictive=True)
    # mean within 0.1 sd, sd within 5 %, correlation (about -0.9) within 0.03
    _check_gaussian(_ab(fit), regression["mean"], regression["cov"], 0.1, 0.05, 0.03)
    assert fit.attrs["vi_converged"] == 1
    # full rank is exact here, so the ELBO reaches the log evidence
    assert abs(fit.attrs["vi_elbo"] - regression["log_evidence"]) < 0.02
    trace = fit["vi_trace"]["elbo"]
    assert trace.shape == (1, fit.attrs["vi_steps"])
    assert np.isfinite(trace.values).all()
    assert fit["sample_stats"]["lp"].shape == (4, 1000)
    predictive = fit["posterior_predictive"]["y"].values
    assert predictive.shape == (4, 1000, 15)
    expected = regression["design"] @ regression["mean"]
    np.testing.assert_allclose(predictive.mean((0, 1)), expected, atol=0.2)


def test_meanfield_underestimates_correlated_variance_fullrank_does_not():
    model = ppl.model(CORRELATED)
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    data = {"m": [1.0, -1.0], "S": cov}
    meanfield = model.sample(data, backend="advi", family="meanfield", seed=0)
    fullrank = model.sample(data, backend="advi", family="fullrank", seed=0)
    mf = meanfield.posterior["x"].values.reshape(-1, 2)
    fr = fullrank.posterior["x"].values.reshape(-1, 2)
    # the mean-field optimum of KL(q || p) for a Gaussian p matches the precision's diagonal:
    # marginal sd sqrt(1 / Lambda_ii) = sqrt(1 - 0.9^2) = 0.436, well below the true sd 1
    expected_mf_sd = np.sqrt(1.0 / np.diag(np.linalg.inv(cov)))
    np.testing.assert_allclose(mf.std(0), expected_mf_sd, rtol=0.05)
    assert np.all(mf.std(0) < 0.5)
    assert abs(np.corrcoef(mf.T)[0, 1]) < 0.05
    np.testing.assert_allclose(mf.mean(0), [1.0, -1.0], atol=0.05)
    _check_gaussian(fr, np.array([1.0, -1.0]), cov, 0.1, 0.05, 0.02)
    # the mean-field gap is KL(q || p) = -0.5 log(1 - 0.9^2) = 0.830; full rank closes it
    assert abs(meanfield.attrs["vi_elbo"] + 0.5 * np.log(1.0 / (1 - 0.81))) < 0.03
    assert abs(fullrank.attrs["vi_elbo"]) < 0.01


@pytest.mark.parametrize("objective, options", [
    ("iwelbo", {"num_importance": 8}),
    ("renyi", {"alpha": 0.5, "num_importance": 8, "gradient": "reparam"}),
])
def test_iwelbo_and_renyi_land_near_the_answer(regression, objective, options):
    fit = regression["model"].sample(regression["data"], backend="advi", family="fullrank",
                                     objective=objective, seed=2, **options)
    _check_gaussian(_ab(fit), regression["mean"], regression["cov"], 0.15, 0.08, 0.05)
    assert fit.attrs["vi_objective_kind"] == objective
    # both bounds are tight when q is the posterior: they approach the log evidence
    assert abs(fit.attrs["vi_objective"] - regression["log_evidence"]) < 0.05


def test_map_mode_of_gaussian_posterior(regression):
    fit = regression["model"].sample(regression["data"], backend="map", seed=3,
                                     posterior_predictive=True)
    assert fit.posterior["a"].shape == (1, 1)
    mode = _ab(fit)[0]
    np.testing.assert_allclose(mode, regression["mean"], atol=1e-6)
    assert fit.attrs["map_converged"] == 1
    assert fit.attrs["map_starts_at_best"] == 4
    assert fit["posterior_predictive"]["y"].shape == (1, 1, 15)


def test_map_gamma_poisson_with_and_without_jacobian(gamma_poisson):
    a, b = gamma_poisson["shape"], gamma_poisson["rate"]
    model, data = gamma_poisson["model"], gamma_poisson["data"]
    constrained = model.sample(data, backend="map", jacobian=False)
    unconstrained = model.sample(data, backend="map", optimizer="adam")
    # the constrained posterior Gamma(a, b) has its mode at (a - 1) / b; the density of
    # log(lam) (Jacobian included) peaks at a / b
    assert constrained.posterior["lam"].item() == pytest.approx((a - 1) / b, rel=1e-6)
    assert unconstrained.posterior["lam"].item() == pytest.approx(a / b, rel=1e-4)
    assert constrained.attrs["map_jacobian"] == 0
    assert unconstrained.attrs["map_optimizer"] == "adam"
    assert unconstrained.attrs["map_converged"] == 1


def test_laplace_covariance_matches_analytic_hessian(regression, gamma_poisson):
    compiled = regression["model"].compile(regression["data"])
    cov = laplace_covariance(map_objective(compiled), jnp.asarray(regression["mean"]))
    np.testing.assert_allclose(cov, regression["cov"], rtol=1e-6)
    # log-density of u = log(lam): (a - 1 + [jacobian]) u - b e^u, maximal where
    # b e^u = a - 1 + [jacobian], with second derivative -(a - 1 + [jacobian]) there
    a, b = gamma_poisson["shape"], gamma_poisson["rate"]
    compiled = gamma_poisson["model"].compile(gamma_poisson["data"])
    for jacobian, curvature in ((True, a), (False, a - 1)):
        mode = jnp.log(jnp.array([curvature / b]))
        cov = laplace_covariance(map_objective(compiled, jacobian), mode)
        assert float(cov[0, 0]) == pytest.approx(1.0 / curvature, rel=1e-9)


def test_laplace_draws_and_posterior_predictive(gamma_poisson):
    a, b = gamma_poisson["shape"], gamma_poisson["rate"]
    fit = gamma_poisson["model"].sample(gamma_poisson["data"], backend="map", laplace=True,
                                        seed=4, posterior_predictive=True)
    log_lam = np.log(fit.posterior["lam"].values)
    assert log_lam.shape == (4, 1000)
    assert log_lam.mean() == pytest.approx(np.log(a / b), abs=0.02)
    assert log_lam.var() == pytest.approx(1.0 / a, rel=0.1)
    assert fit["sample_stats"]["log_weight"].shape == (4, 1000)
    predictive = fit["posterior_predictive"]["y"].values
    assert predictive.shape == (4, 1000, 8)
    # the posterior predictive mean of a Poisson count is E[lam] ~ a / b
    assert predictive.mean() == pytest.approx(a / b, rel=0.05)


@pytest.mark.parametrize("backend, options, message", [
    ("advi", {"famly": "meanfield"}, "advi has no option 'famly'"),
    ("advi", {"family": "lowrank"},
     "family must be 'auto', 'meanfield', 'fullrank' or a family object"),
    ("advi", {"objective": "kl"}, "objective must be one of"),
    ("map", {"optimizer": "newton"}, "optimizer must be one of"),
])
def test_bad_options_are_located_errors(gamma_poisson, backend, options, message):
    with pytest.raises(ppl.SamplingError, match=message):
        gamma_poisson["model"].sample(gamma_poisson["data"], backend=backend, **options)


def test_families_are_pluggable_objects():
    assert resolve_family("fullrank", 3) == FullRank()
    custom = MeanField(name="my-meanfield")  # any object with name, init, transform, log_prob
    assert resolve_family(custom, 3) is custom
    with pytest.raises(ppl.SamplingError, match="not a variational family"):
        resolve_family(object(), 3)


def test_the_default_family_is_full_rank_for_small_models_and_mean_field_for_large_ones():
    """family="auto" (the default): chosen by benchmarks/bench_pathfinder.py (full-rank within
    0.041 sds on every regression posterior, mean-field's sds 50-99 % too small), mean-field
    where full-rank's d (d + 1) / 2 scale parameters would grow large."""
    from ppl.backends.advi import FULLRANK_UP_TO, OPTIONS

    assert next(o for o in OPTIONS if o.name == "family").default == "auto"
    assert resolve_family("auto", FULLRANK_UP_TO) == FullRank()
    assert resolve_family("auto", FULLRANK_UP_TO + 1) == MeanField()
