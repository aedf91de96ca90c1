"""Declared bounds narrower than a distribution's support truncate it and normalise it: the
log density holds the log CDF / CCDF terms, so that the posterior is that of the model whose
prior draws are truncated. Checked against scipy's truncated densities, with parameters in the
location, one- and two-sided bounds, observed data, far tails, and by sampling."""

from __future__ import annotations

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl


def _log_density(source: str, values: dict, data: dict | None = None) -> tuple[float, float]:
    """(log prior, log likelihood) at constrained ``values``, Jacobians left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(source).compile(data or {})
    u = compiled.unconstrain({k: jnp.asarray(v) for k, v in values.items()})
    prior, lik = compiled.log_density_parts(u, jacobian=False)
    return float(prior), float(lik)


def test_a_lower_bound_with_a_parameter_location_is_normalised():
    """The issue's example: at mu = -2, theta = 0.5 the truncated density is -2.5005 (the
    untruncated -6.2837 is another model)."""
    source = "mu ~ normal(0, 3)\ntheta: real > 0 ~ normal(mu, 1)\n"
    prior, _ = _log_density(source, {"mu": -2.0, "theta": 0.5})
    theta = stats.truncnorm.logpdf(0.5, (0 - -2.0) / 1, np.inf, loc=-2.0, scale=1)
    assert prior == pytest.approx(stats.norm.logpdf(-2.0, 0, 3) + theta, abs=1e-9)
    assert prior == pytest.approx(-2.5005, abs=1e-4)


@pytest.mark.parametrize("bounds, a, b", [
    ("in [-1, 2]", -1.0, 2.0),  # two-sided
    ("< 0.3", -np.inf, 0.3),  # upper only
    ("> 12", 12.0, np.inf),  # far in the upper tail: log CCDF, not log(1 - CDF)
    ("< -40", -np.inf, -40.0),  # far in the lower tail
])
def test_normal_truncations_match_scipy(bounds, a, b):
    source = f"mu ~ normal(0, 3)\ntheta: real {bounds} ~ normal(mu, 1.5)\n"
    mu = 0.7
    theta = float(np.clip(0.1, a + 0.5, b - 0.5)) if np.isfinite(a) or np.isfinite(b) else 0.1
    prior, _ = _log_density(source, {"mu": mu, "theta": theta})
    expected = stats.norm.logpdf(mu, 0, 3) + stats.truncnorm.logpdf(
        theta, (a - mu) / 1.5, (b - mu) / 1.5, loc=mu, scale=1.5)
    assert np.isfinite(prior)
    assert prior == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_other_families_and_bounds_from_data_match_scipy():
    source = """
data lo: real
nu ~ gamma(2, 0.5)
a: real > lo ~ student_t(nu, 1, 2)
k ~ gamma(2, 1)
g: real in [1, 3] ~ gamma(k, 2)
w: real < 2 ~ weibull(k, 1.5)
h: real < 1 ~ half_student_t(nu, 2)
"""
    values = {"nu": 4.5, "a": 0.8, "k": 1.7, "g": 2.2, "w": 0.9, "h": 0.4}
    prior, _ = _log_density(source, values, {"lo": -0.5})
    t = stats.t(4.5, 1, 2)
    gamma = stats.gamma(1.7, scale=1 / 2)
    weibull = stats.weibull_min(1.7, scale=1.5)
    half_t = stats.t(4.5, 0, 2)
    expected = (stats.gamma.logpdf(4.5, 2, scale=2) + stats.gamma.logpdf(1.7, 2)
                + t.logpdf(0.8) - t.logsf(-0.5)
                + gamma.logpdf(2.2) - np.log(gamma.cdf(3) - gamma.cdf(1))
                + weibull.logpdf(0.9) - weibull.logcdf(2)
                + np.log(2) + half_t.logpdf(0.4) - np.log(2 * half_t.cdf(1) - 1))
    assert prior == pytest.approx(expected, rel=1e-8)


def test_bounds_that_are_the_support_add_nothing():
    source = "s: real > 0 ~ half_normal(2)\np: real in [0, 1] ~ beta(2, 3)\n"
    prior, _ = _log_density(source, {"s": 0.7, "p": 0.4})
    assert prior == pytest.approx(stats.halfnorm.logpdf(0.7, scale=2)
                                  + stats.beta.logpdf(0.4, 2, 3), abs=1e-12)


def test_bounded_observed_data_has_a_truncated_likelihood():
    """The prior predictive draws bounded data truncated, so the likelihood is truncated too:
    one model, whether y is simulated or observed."""
    source = "data y: real[3] > 0\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
    y = np.array([0.2, 1.5, 0.9])
    _, lik = _log_density(source, {"mu": -0.4}, {"y": y})
    expected = stats.truncnorm.logpdf(y, (0 - -0.4), np.inf, loc=-0.4, scale=1).sum()
    assert lik == pytest.approx(expected, abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(source).compile({"y": y})
    pointwise = compiled.pointwise_log_likelihood(compiled.unconstrain({"mu": jnp.asarray(-0.4)}))
    np.testing.assert_allclose(pointwise["y"], stats.truncnorm.logpdf(
        y, 0.4, np.inf, loc=-0.4, scale=1), atol=1e-9)


def test_the_gradient_is_finite_far_in_the_tail():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model("mu ~ normal(0, 1)\ntheta: real > 30 ~ normal(mu, 1)\n").compile({})
    u = compiled.unconstrain({"mu": jnp.asarray(0.5), "theta": jnp.asarray(31.0)})
    value, grad = jax.value_and_grad(compiled.log_density)(u)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("source, reference", [
    ("theta: real > 0 ~ normal(-2, 1)\n", stats.truncnorm(2, np.inf, loc=-2, scale=1)),
    ("theta: real > 1 ~ gamma(2, 1)\n", None),  # NumPyro has no gamma icdf without TFP
    ("theta: real in [0.5, 4] ~ student_t(3, 0, 1)\n", None),
])
def test_prior_draws_follow_the_truncated_distribution(source, reference):
    if reference is None:
        if "gamma" in source:
            base, lo, hi = stats.gamma(2), 1.0, np.inf
        else:
            base, lo, hi = stats.t(3), 0.5, 4.0
        reference = _Truncated(base, lo, hi)
    draws = np.asarray(ppl.model(source).sample_prior_predictive({}, draws=4000, seed=2)
                       ["prior"]["theta"]).ravel()
    assert np.all(np.isfinite(draws))
    # Kolmogorov-Smirnov at the 0.1% level: fails for a wrong truncation, not by chance.
    assert stats.kstest(draws, reference.cdf).pvalue > 1e-3


class _Truncated:
    """A scipy distribution restricted to [lo, hi] (CDF only, for the KS test)."""

    def __init__(self, base, lo, hi):
        self.base, self.lo, self.hi = base, lo, hi

    def cdf(self, x):
        f_lo, f_hi = self.base.cdf(self.lo), self.base.cdf(self.hi)
        return np.clip((self.base.cdf(x) - f_lo) / (f_hi - f_lo), 0, 1)


def test_nuts_samples_the_prior_of_a_truncated_hierarchy():
    """With no data the posterior is the prior: mu ~ normal(0, 1) whatever theta's truncation.
    Without the normaliser mu's marginal is N(0, 1) tilted by Phi(mu), mean 0.56, which the
    MCSE-based tolerance rejects."""
    model = ppl.model("mu ~ normal(0, 1)\ntheta: real > 0 ~ normal(mu, 1)\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.sample({}, chains=4, draws=1000, warmup=500, seed=3)
    mu = np.asarray(fit.posterior["mu"])
    mcse = mu.std() / np.sqrt(float(az.ess(fit.posterior["mu"].to_dataset())["mu"]))
    assert abs(mu.mean()) < 4 * mcse, (mu.mean(), mcse)
    assert abs(mu.std() - 1) < 0.1


def test_declared_bounds_are_the_support_of_a_multivariate_draw():
    """A multivariate prior has no truncation normaliser, but its declared bounds still define
    where it lives: NUTS never leaves x < 0 (the prior's own support is all of R^2)."""
    model = ppl.model("x: vector[2] < 0 ~ multi_normal([0, 0], [[1, 0.5], [0.5, 1]])\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.sample({}, chains=2, draws=200, warmup=200, seed=4)
    x = np.asarray(fit.posterior["x"])
    assert np.all(x < 0)
