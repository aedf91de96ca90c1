"""``multinomial(theta)``: N is the sum of the observed counts (as Stan computes it from y).

The density is checked against scipy in tests/test_reference_distributions.py; here: the
function form, posterior predictive draws (N from the data, frequencies theta within Monte
Carlo error), and the located error of a simulation without counts.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

import ppl

MODEL = """data K: int
data y: int[K]
theta: simplex[K] ~ dirichlet(rep_vector(1, K))
y ~ multinomial(theta)
lp = multinomial_lpmf(y, theta)
"""
Y = np.array([3, 0, 9, 4])


@pytest.fixture(scope="module")
def compiled():
    return ppl.model(MODEL).compile({"K": 4, "y": Y})


def test_function_form_against_scipy(compiled):
    u = np.array([0.3, -0.2, 0.5])
    theta = np.asarray(compiled.constrain(u)["theta"])
    np.testing.assert_allclose(compiled.generated(u)["lp"],
                               stats.multinomial.logpmf(Y, Y.sum(), theta), rtol=1e-10)


def test_gradient_is_finite(compiled):
    """Integer counts: the log density's gradient in theta is finite (a gradient through the
    integer value itself would fail)."""
    assert np.all(np.isfinite(jax.grad(compiled.log_density)(np.array([0.3, -0.2, 0.5]))))


def test_posterior_predictive_has_the_observed_number_of_trials(compiled):
    u = np.array([0.3, -0.2, 0.5])
    theta = np.asarray(compiled.constrain(u)["theta"])
    draws = np.asarray(jax.vmap(lambda k: compiled.predictive(k, u)["y"])(
        jax.random.split(jax.random.PRNGKey(7), 4000)))
    assert draws.shape == (4000, 4)
    assert np.all(draws >= 0) and np.all(draws.sum(axis=1) == Y.sum())
    n = Y.sum()
    se = np.sqrt(n * theta * (1 - theta) / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - n * theta) < 4 * se)


def test_prior_simulation_without_counts_is_a_located_error():
    with pytest.raises(ppl.PPLError) as info:
        ppl.model(MODEL).sample_prior_predictive({"K": 4}, draws=10)
    text = str(info.value)
    assert "'y' cannot be simulated" in text and ":4:" in text and "supply 'y'" in text


def test_prior_simulation_with_counts_keeps_their_total():
    prior = ppl.model(MODEL).sample_prior_predictive({"K": 4, "y": Y}, draws=200)
    draws = np.asarray(prior.prior_predictive["y"]).reshape(-1, 4)
    assert np.all(draws.sum(axis=1) == Y.sum())
