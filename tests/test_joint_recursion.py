"""Definitions over one range that use each other's elements (an ARMA model's ``nu[t]`` with
``err[t - 1]``, ``err[t]`` with ``nu[t]``) compile to one scan, with the values of a plain
loop; what is still a cycle stays a located error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl
from ppl import ModelError

NU = "nu[t] = (if t == 1 then mu + phi * mu else mu + phi * y[t - 1] + theta * err[t - 1]) " \
     "for t in 1:T\n"
ERR = "err[t] = y[t] - nu[t] for t in 1:T\n"
HEAD = ("data T: int\ndata y: vector[T]\nmu ~ normal(0, 10)\nphi ~ normal(0, 2)\n"
        "theta ~ normal(0, 2)\nsigma ~ half_cauchy(2.5)\n")
Y = np.array([0.3, 1.2, -0.4, 0.8, 2.0, 1.1, -0.7])
VALUES = {"mu": 0.2, "phi": 0.5, "theta": -0.3, "sigma": 1.3}


def _loop(mu, phi, theta):
    nu, err = np.zeros(len(Y)), np.zeros(len(Y))
    for t in range(len(Y)):
        nu[t] = mu + phi * mu if t == 0 else mu + phi * Y[t - 1] + theta * err[t - 1]
        err[t] = Y[t] - nu[t]
    return nu, err


@pytest.mark.parametrize("body", [NU + ERR, ERR + NU], ids=["nu first", "err first"])
def test_the_arma_recursion_has_the_values_and_density_of_a_loop(body):
    model = ppl.model(HEAD + body + "err ~ normal(0, sigma)\n")
    assert model.warnings == ()  # err is a residual of the data: no Jacobian is missing
    compiled = model.compile({"T": len(Y), "y": Y})
    nu, err = _loop(VALUES["mu"], VALUES["phi"], VALUES["theta"])
    values = compiled.generated(compiled.unconstrain(VALUES))
    np.testing.assert_allclose(values["nu"], nu, rtol=1e-13)
    np.testing.assert_allclose(values["err"], err, rtol=1e-13, atol=1e-15)
    expected = (stats.norm(0, 10).logpdf(0.2) + stats.norm(0, 2).logpdf([0.5, -0.3]).sum()
                + stats.halfcauchy(0, 2.5).logpdf(1.3) + stats.norm(0, 1.3).logpdf(err).sum())
    assert float(compiled.constrained_log_density(VALUES)) == pytest.approx(expected, abs=1e-12)


def test_its_gradient_matches_finite_differences():
    compiled = ppl.model(HEAD + NU + ERR + "err ~ normal(0, sigma)\n").compile(
        {"T": len(Y), "y": Y})
    u = compiled.unconstrain(VALUES)
    with jax.enable_x64(True):
        grad = np.asarray(jax.grad(compiled.log_density)(u))
    h = 1e-6
    for i in range(len(u)):
        step = jnp.zeros_like(u).at[i].set(h)
        up, down = (float(compiled.log_density(u + s)) for s in (step, -step))
        fd = (up - down) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_the_recursion_is_one_scan():
    compiled = ppl.model(HEAD + NU + ERR + "err ~ normal(0, sigma)\n").compile(
        {"T": len(Y), "y": Y})
    with jax.enable_x64(True):
        text = str(jax.make_jaxpr(compiled.log_density)(compiled.unconstrain(VALUES)))
    assert text.count("scan[") == 1


@pytest.mark.parametrize("body, where", [
    ("a[t] = b[t] + 1 for t in 1:T\nb[t] = a[t] * 2 for t in 1:T\n", "a -> b -> a"),
    ("a[t] = b[t - 1] + 1 for t in 1:T\nb[t] = sum(a) for t in 1:T\n", "a -> b -> a"),
    ("a[t] = b[t - 1] + 1 for t in 1:T\nb[t] = a[t] for t in 2:T\n", "a -> b -> a"),
])
def test_what_no_scan_can_compute_is_still_a_cycle(body, where):
    with pytest.raises(ModelError, match=f"in a cycle: {where}"):
        ppl.model("data T: int\n" + body + "x ~ normal(a[1], 1)\n", "m.ppl")


def test_a_member_with_vector_elements_is_a_located_error():
    src = ("data T: int\nmu ~ normal(0, 1)\n"
           "a[t] = (if t == 1 then [mu, mu] else b[t - 1] * [1.0, 2.0]) for t in 1:T\n"
           "b[t] = sum(a[t]) for t in 1:T\n")
    with pytest.raises(ModelError, match=r"m\.ppl:3:1: error: 'a' is part of a joint "
                                         r"recursion with 'b', whose elements must be numbers"):
        ppl.model(src, "m.ppl").compile({"T": 3})
