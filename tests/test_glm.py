"""The GLM forms (``bernoulli_logit_glm``, ``poisson_log_glm``, ``normal_id_glm``): each is its
element-wise family of the linear predictor ``alpha + x * beta``, exactly.

Their scipy references are in tests/test_reference_distributions.py; here each statement is
compared with the same model written out, at random parameter values, together with the
``_lpmf`` / ``_lpdf`` function forms and prior simulation.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

import ppl

RNG = np.random.default_rng(20261206)
N, K = 6, 3
X = RNG.normal(size=(N, K))
DATA = {"X": X, "y": RNG.integers(0, 2, N), "c": RNG.integers(0, 6, N),
        "z": RNG.normal(size=N), "a": RNG.normal(size=N)}
HEAD = """data X: matrix[6, 3]
data y: int[6]
data c: int[6]
data z: vector[6]
data a: vector[6]
alpha ~ normal(0, 1)
beta: vector[3] ~ normal(0, 1)
sigma ~ exponential(1)
"""

GLM = HEAD + """y ~ bernoulli_logit_glm(X, alpha, beta)
c ~ poisson_log_glm(X, a, beta)
z ~ normal_id_glm(X, alpha, beta, sigma)
lp_y = bernoulli_logit_glm_lpmf(y, X, alpha, beta)
lp_c = poisson_log_glm_lpmf(c, X, a, beta)
lp_z = normal_id_glm_lpdf(z, X, alpha, beta, sigma)
"""

WRITTEN_OUT = HEAD + """y ~ bernoulli_logit(alpha + X * beta)
c ~ poisson_log(a + X * beta)
z ~ normal(alpha + X * beta, sigma)
"""

POINTS = RNG.normal(size=(4, 1 + K + 1))


@pytest.fixture(scope="module")
def both():
    return ppl.model(GLM).compile(DATA), ppl.model(WRITTEN_OUT).compile(DATA)


def test_same_log_density_as_written_out(both):
    glm, written = both
    for u in POINTS:
        np.testing.assert_allclose(glm.log_density(u), written.log_density(u), rtol=1e-12)
        a, b = glm.pointwise_log_likelihood(u), written.pointwise_log_likelihood(u)
        for name in ("y", "c", "z"):
            assert np.shape(a[name]) == (N,)
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14)


def test_against_scipy_and_function_forms(both):
    glm, _ = both
    for u in POINTS:
        v = glm.constrain(u)
        eta = float(v["alpha"]) + X @ np.asarray(v["beta"])
        p = 1 / (1 + np.exp(-eta))
        expected = {
            "y": stats.bernoulli.logpmf(DATA["y"], p),
            "c": stats.poisson.logpmf(DATA["c"], np.exp(DATA["a"] + X @ np.asarray(v["beta"]))),
            "z": stats.norm.logpdf(DATA["z"], eta, float(v["sigma"])),
        }
        pointwise = glm.pointwise_log_likelihood(u)
        generated = glm.generated(u)
        for name, want in expected.items():
            np.testing.assert_allclose(pointwise[name], want, rtol=1e-10)
            # the function forms are the sum over the rows, a scalar (as Stan's)
            assert np.shape(generated[f"lp_{name}"]) == ()
            np.testing.assert_allclose(generated[f"lp_{name}"], want.sum(), rtol=1e-10)


def test_the_function_forms_are_scalars_in_expressions():
    """``bernoulli_logit_glm_lpmf(...) * 2`` added to the target is twice the statement's
    density (a scalar times 2), and a scalar function of the form (exp) checks and evaluates;
    a per-row vector would not be a real there."""
    source = HEAD + """target += bernoulli_logit_glm_lpmf(y, X, alpha, beta) * 2
target += normal_id_glm_lpdf(z, X, alpha, beta, sigma)
generated likelihood = exp(poisson_log_glm_lpmf(c, X, a, beta))
generated shifted ~ normal(normal_id_glm_lpdf(z, X, alpha, beta, sigma), 1)
"""
    doubled = ppl.model(source).compile(DATA)
    plain = ppl.model(HEAD + """target += 2 * bernoulli_logit_glm_lpmf(y, X, alpha, beta)
z ~ normal_id_glm(X, alpha, beta, sigma)
""").compile(DATA)
    for u in POINTS:
        np.testing.assert_allclose(doubled.log_density(u), plain.log_density(u), rtol=1e-12)
        v = doubled.constrain(u)
        rate = np.exp(DATA["a"] + X @ np.asarray(v["beta"]))
        generated = doubled.generated(u, jax.random.PRNGKey(0))
        assert np.shape(generated["likelihood"]) == () and np.shape(generated["shifted"]) == ()
        np.testing.assert_allclose(generated["likelihood"],
                                   np.exp(stats.poisson.logpmf(DATA["c"], rate).sum()),
                                   rtol=1e-10)


def test_prior_simulation_has_one_value_per_row():
    prior = ppl.model(GLM).sample_prior_predictive({"X": X, "a": DATA["a"]}, draws=50)
    y = np.asarray(prior.prior_predictive["y"])
    c = np.asarray(prior.prior_predictive["c"])
    z = np.asarray(prior.prior_predictive["z"])
    assert y.shape[-1] == N and c.shape[-1] == N and z.shape[-1] == N
    assert set(np.unique(y)) <= {0, 1} and np.all(c >= 0) and np.all(np.isfinite(z))


def test_gradient_is_finite(both):
    glm, _ = both
    assert np.all(np.isfinite(jax.grad(glm.log_density)(POINTS[0])))
