"""``~`` on a quantity computed from parameters (Stan's ``~`` on a transformed parameter): its
density is added to the target, with a warning where the map is non-linear (a Jacobian may be
missing); and the multivariate ``_lpdf`` functions it relies on."""

from __future__ import annotations

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl
from ppl import ModelError

Y = np.array([0.3, -1.2, 2.0, 0.7])
U = jnp.array([0.4, -0.3])  # mu, log sigma


def _density(src: str, data: dict, u=U) -> float:
    return float(ppl.model(src).compile(data).log_density(u))


def test_an_affine_residual_with_a_distribution_is_the_likelihood_without_a_warning():
    residual = ("data N: int\ndata y: vector[N]\nmu ~ normal(0, 1)\nsigma ~ half_normal(1)\n"
                "err = y - mu\nerr ~ normal(0, sigma)\n")
    direct = ("data N: int\ndata y: vector[N]\nmu ~ normal(0, 1)\nsigma ~ half_normal(1)\n"
              "y ~ normal(mu, sigma)\n")
    data = {"N": 4, "y": Y}
    assert _density(residual, data) == pytest.approx(_density(direct, data), abs=1e-12)
    assert ppl.model(residual).warnings == ()


def test_an_element_wise_statement_over_a_range_and_named_arguments():
    src = ("data N: int\ndata y: vector[N]\nmu ~ normal(0, 1)\nsigma ~ half_normal(1)\n"
           "z[n] = y[n] - mu for n in 1:N\nz[n] ~ normal(sigma = sigma, mu = 0) for n in 2:N\n")
    mu, sigma = 0.4, np.exp(-0.3)
    expected = (stats.norm(0, 1).logpdf(mu) + stats.halfnorm(0, 1).logpdf(sigma) - 0.3
                + stats.norm(mu, sigma).logpdf(Y[1:]).sum())
    assert _density(src, {"N": 4, "y": Y}) == pytest.approx(expected, abs=1e-10)


def test_a_multivariate_distribution_on_a_parameter_expression():
    src = ("data K: int\ndata y: vector[K]\ndata S: cov_matrix[K]\nmu: vector[K] ~ normal(0, 1)\n"
           "d = y - mu\nd ~ multi_normal(rep_vector(0, K), S)\n")
    S = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]])
    mu = np.array([0.1, -0.2, 0.3])
    expected = (stats.norm(0, 1).logpdf(mu).sum()
                + stats.multivariate_normal(np.zeros(3), S).logpdf(Y[:3] - mu))
    got = _density(src, {"K": 3, "y": Y[:3], "S": S}, jnp.asarray(mu))
    assert got == pytest.approx(expected, abs=1e-10)


NONLINEAR = "x ~ normal(0, 2)\nz = exp(x)\nz ~ lognormal(0, 1)\n"


def test_a_non_linear_map_is_warned_and_its_density_has_no_jacobian():
    model = ppl.model(NONLINEAR, "m.ppl")
    (w,) = model.warnings
    assert w.span.line == 3 and "non-linear function of parameters" in w.message
    assert "log |Jacobian|" in w.message and "target += x" in w.hint
    x = 0.7
    expected = stats.norm(0, 2).logpdf(x) + stats.lognorm(1).logpdf(np.exp(x))
    assert float(model.compile().log_density(jnp.array([x]))) == pytest.approx(expected,
                                                                                 abs=1e-12)


def test_with_the_jacobian_added_the_parameter_has_the_intended_distribution():
    """z = exp(x) ~ lognormal(0, 1) plus target += x makes x standard normal; without the
    Jacobian term x has density N(x) e^(-x) up to a constant, mean -1. Both checked within
    4 Monte Carlo standard errors (fixed seed)."""
    base = "param x: real\nz = exp(x)\nz ~ lognormal(0, 1)\n"
    fits = {name: ppl.model(src).sample(draws=1500, warmup=500, chains=2, seed=7)
            for name, src in (("with", base + "target += x\n"), ("without", base))}
    for name, want in (("with", 0.0), ("without", -1.0)):
        x = np.asarray(fits[name]["posterior"]["x"]).ravel()
        ess = float(az.ess(fits[name], var_names=["x"])["x"])
        assert abs(x.mean() - want) < 4 * x.std() / np.sqrt(ess), (name, x.mean())


def test_the_multivariate_lpdf_functions_match_scipy():
    src = ("data N: int\ndata K: int\ndata Y: matrix[N, K]\ndata S: cov_matrix[K]\n"
           "mu: vector[K] ~ normal(0, 1)\nrows = multi_normal_lpdf(Y, mu, S)\n"
           "one = multi_normal_lpdf(Y[1], mu, S)\n"
           "d = dirichlet_lpdf([0.2, 0.3, 0.5], mu .* mu + 1)\n")
    rng = np.random.default_rng(1)
    Ym = rng.normal(size=(4, 3))
    S = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]])
    mu = np.array([0.1, -0.2, 0.3])
    values = ppl.model(src).compile({"N": 4, "K": 3, "Y": Ym, "S": S}).generated(
        jnp.asarray(mu))
    reference = stats.multivariate_normal(mu, S)
    np.testing.assert_allclose(values["rows"], reference.logpdf(Ym), rtol=1e-12)
    assert float(values["one"]) == pytest.approx(reference.logpdf(Ym[0]), rel=1e-12)
    assert float(values["d"]) == pytest.approx(
        stats.dirichlet(mu * mu + 1).logpdf([0.2, 0.3, 0.5]), rel=1e-12)


def test_a_multivariate_lpdf_of_the_wrong_shape_is_a_located_error():
    src = ("data K: int\ndata S: cov_matrix[K]\nmu: vector[K] ~ normal(0, 1)\n"
           "a = multi_normal_lpdf([1.0, 2.0], mu, S)\n")
    with pytest.raises(ModelError, match=r"m\.ppl:4:23: error: the value of multi_normal_lpdf\(\) "
                                         r"must end with the shape of one draw"):
        ppl.model(src, "m.ppl").compile({"K": 3, "S": np.eye(3)})
