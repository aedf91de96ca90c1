"""A latent time series written element by element, as Stan users write it:
``x[1] ~ normal(0, 1)`` with ``x[t] ~ normal(x[t - 1], s) for t in 2:T`` on a parameter ``x``.
Its density is the product of the conditionals (the same as the vectorised statement over
slices); its prior draws are ancestral; misuses are located errors (golden files
``latent_recursion_*``)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl

HEAD = """data T: int >= 2
data y: vector[T]
s ~ half_normal(1)
"""
ELEMENTWISE = HEAD + """x[1] ~ normal(0, 1)
x[t] ~ normal(x[t - 1], s) for t in 2:T
y ~ normal(x, 0.5)
"""
DECLARED = HEAD + """param x: vector[T]
x[1] ~ normal(0, 1)
x[t] ~ normal(0.9 * x[t - 1] + 0.1 * x[t - 2], s) for t in 2:T
y ~ normal(x, 0.5)
""".replace("for t in 2:T", "for t in 3:T").replace(
    "x[1] ~ normal(0, 1)\n", "x[1] ~ normal(0, 1)\nx[2] ~ normal(x[1], 2)\n")
VECTORISED = HEAD + """param x: vector[T]
target += normal_lpdf(x[1], 0, 1)
target += normal_lpdf(x[2:T], x[1:T - 1], s)
y ~ normal(x, 0.5)
"""
DATA = {"T": 7, "y": np.linspace(-1.0, 2.0, 7)}


def _compiled(source: str, data=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ppl.model(source).compile(DATA if data is None else data)


def test_density_equals_the_vectorised_statement():
    """At random constrained points, with and without the log |Jacobian|."""
    elementwise, vectorised = _compiled(ELEMENTWISE), _compiled(VECTORISED)
    rng = np.random.default_rng(18)
    for _ in range(4):
        values = {"s": float(np.exp(rng.normal())), "x": rng.normal(size=7)}
        for jacobian in (False, True):
            assert float(elementwise.constrained_log_density(values, jacobian=jacobian)) == \
                pytest.approx(float(vectorised.constrained_log_density(values,
                                                                       jacobian=jacobian)),
                              rel=1e-12)


def test_density_with_two_lags_and_a_declared_parameter_matches_scipy():
    compiled = _compiled(DECLARED)
    rng = np.random.default_rng(5)
    s, x = 0.7, rng.normal(size=7)
    expected = (stats.halfnorm.logpdf(s) + stats.norm.logpdf(x[0])
                + stats.norm.logpdf(x[1], x[0], 2)
                + stats.norm.logpdf(x[2:], 0.9 * x[1:-1] + 0.1 * x[:-2], s).sum()
                + stats.norm.logpdf(DATA["y"], x, 0.5).sum())
    assert float(compiled.constrained_log_density({"s": s, "x": x})) == \
        pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(jax.grad(compiled.log_density)(jnp.zeros(compiled.dimension))))


def test_prior_draws_are_ancestral():
    """x[1] ~ normal(0, 1) and the increments over s are standard normals, independent of the
    past (their correlation with x[t - 1] is 0): Monte Carlo tolerances of 4 standard
    errors with 4000 draws."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = ppl.model(ELEMENTWISE).sample_prior_predictive({"T": 7}, draws=4000, seed=1)
    x = np.asarray(prior.prior["x"]).reshape(-1, 7)
    s = np.asarray(prior.prior["s"]).reshape(-1)
    steps = (x[:, 1:] - x[:, :-1]) / s[:, None]
    n = x.shape[0]
    assert abs(np.std(x[:, 0]) - 1) < 4 / np.sqrt(2 * n)
    assert np.all(np.abs(np.std(steps, axis=0) - 1) < 4 / np.sqrt(2 * n))
    assert np.all(np.abs(np.mean(steps, axis=0)) < 4 / np.sqrt(n))
    for t in range(1, 6):
        assert abs(np.corrcoef(steps[:, t], x[:, t])[0, 1]) < 4 / np.sqrt(n)
    y = np.asarray(prior.prior_predictive["y"]).reshape(-1, 7)
    assert abs(np.std(y[:, 0] - x[:, 0]) - 0.5) < 4 * 0.5 / np.sqrt(2 * n)


def test_prior_predictive_of_an_observed_series_is_ancestral():
    """Observed data modelled element by element (docs/language.md's example), left out of
    the data, is simulated like a latent series (it used to fail with KeyError: 'y')."""
    source = """data T: int
data y: vector[T]
s ~ half_normal(1)
y[1] ~ normal(0, 5)
y[t] ~ normal(0.8 * y[t - 1], s) for t in 2:T
"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = ppl.model(source).sample_prior_predictive({"T": 5}, draws=4000, seed=2)
    y = np.asarray(prior.prior_predictive["y"]).reshape(-1, 5)
    s = np.asarray(prior.prior["s"]).reshape(-1)
    steps = (y[:, 1:] - 0.8 * y[:, :-1]) / s[:, None]
    n = y.shape[0]
    assert abs(np.std(y[:, 0]) / 5 - 1) < 4 / np.sqrt(2 * n)
    assert np.all(np.abs(np.std(steps, axis=0) - 1) < 4 / np.sqrt(2 * n))


def test_simulating_data_modelled_only_from_its_second_element_is_a_located_error():
    """`y[t] ~ ... for t in 2:T` conditions on the observed y[1]; left out of the data, y has
    no distribution for y[1] to be drawn from (it used to fail building the results)."""
    source = """data T: int
data y: vector[T]
s ~ half_normal(1)
y[t] ~ normal(0.8 * y[t - 1], s) for t in 2:T
"""
    with pytest.raises(ppl.DataError) as info:
        ppl.model(source).sample_prior_predictive({"T": 5}, draws=3)
    (diagnostic,) = info.value.diagnostics
    assert "data 'y' is left out, so it would be simulated" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 1)
    assert "y[1] ~" in diagnostic.hint
