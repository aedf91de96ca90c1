"""GLM-shaped likelihoods with a data design matrix are computed in one pass over the matrix
(ppl/codegen/glm.py): the value and every derivative equal plain autodiff's, the rule fires
only when the matrix is data, it batches under vmap (chains), and a ragged last block of rows
is counted once. The plain reference is the same compiled model's prior plus its pointwise
log-likelihood, which goes through the distributions as written."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as nd
import pytest

import ppl
from ppl.codegen.glm import block_rows_for, glm_log_likelihood
from ppl.jax_settings import ppl_settings

N, K = 60, 3
HEAD = "data N: int\ndata K: int\ndata X: matrix[N, K]\n"
BINARY = "data y: int[N] in [0, 1]\n"
COUNTS = "data y: int[N] in [0, 100]\n"
REAL = "data y: vector[N]\n"
COEFS = "alpha ~ normal(0, 1)\nbeta: vector[K] ~ normal(0, 0.5)\n"
SIGMA = "sigma ~ half_normal(1)\n"

# (declarations, statement, kind of y)
FORMS = {
    "bernoulli_logit": (BINARY + COEFS, "y ~ bernoulli_logit(alpha + X * beta)", "binary"),
    "poisson_log": (COUNTS + COEFS, "y ~ poisson_log(X * beta + alpha)", "counts"),
    "normal": (REAL + COEFS + SIGMA, "y ~ normal(alpha + X * beta, sigma)", "real"),
    "no_intercept": (BINARY + COEFS, "y ~ bernoulli_logit(X * beta)", "binary"),
    "bernoulli_logit_glm": (BINARY + COEFS, "y ~ bernoulli_logit_glm(X, alpha, beta)",
                            "binary"),
    "poisson_log_glm": (COUNTS + COEFS, "y ~ poisson_log_glm(X, alpha, beta)", "counts"),
    "normal_id_glm": (REAL + COEFS + SIGMA, "y ~ normal_id_glm(X, alpha, beta, sigma)", "real"),
    "per_row_alpha_sigma": (REAL + "alpha: vector[N] ~ normal(0, 1)\n"
                            "beta: vector[K] ~ normal(0, 1)\nsigma: vector[N] ~ half_normal(1)\n",
                            "y ~ normal(alpha + X * beta, sigma)", "real"),
}


def _data(kind: str, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = {"binary": (rng.random(N) < 0.4).astype(int), "counts": rng.poisson(2.0, N),
         "real": rng.normal(size=N)}[kind]
    return {"N": N, "K": K, "X": rng.normal(size=(N, K)), "y": y}


def _compiled(form: str):
    declarations, statement, kind = FORMS[form]
    return ppl.model(HEAD + declarations + statement + "\n").compile(_data(kind))


def _plain(compiled):
    """The log density through the distributions as written (no one-pass rule)."""
    def log_density_with(u, data):
        model = compiled.with_data(data)
        terms = model.pointwise_log_likelihood(u).values()
        return model.log_prior(u) + sum(jnp.sum(t) for t in terms)

    return log_density_with


def _fused_calls(jaxpr, shape) -> int:
    """custom_jvp calls with symbolic zeros (the one-pass rule's) that take a ``shape`` array."""
    return sum(1 for e in jaxpr.jaxpr.eqns if e.primitive.name == "custom_jvp_call"
               and e.params.get("symbolic_zeros")
               and any(getattr(v.aval, "shape", None) == shape for v in e.invars))


def _points(compiled, count: int = 3):
    return [0.7 * jax.random.normal(jax.random.PRNGKey(s), (compiled.dimension,))
            for s in range(count)]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_value_and_gradient_equal_plain_autodiff(form):
    with ppl_settings():
        compiled = _compiled(form)
        assert list(compiled.glm_plans) == ["y"]
        fused = jax.jit(jax.value_and_grad(compiled.log_density_with))
        plain = jax.jit(jax.value_and_grad(_plain(compiled)))
        for u in _points(compiled, 2):
            (v1, g1), (v2, g2) = fused(u, compiled.traced_data), plain(u, compiled.traced_data)
            assert np.isfinite(float(v2))
            assert float(v1) == pytest.approx(float(v2), rel=1e-10)
            np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-10 * float(jnp.max(abs(g2))))
        if form == "bernoulli_logit":  # the program the samplers call
            _, g3 = compiled.jitted_value_and_grad(u)
            np.testing.assert_allclose(g3, g2, rtol=1e-10, atol=1e-10 * float(jnp.max(abs(g2))))


@pytest.mark.parametrize("form", ["per_row_alpha_sigma"])
def test_second_derivatives_equal_plain_autodiff(form):
    # MAP's Laplace approximation takes jax.hessian (forward over reverse) of the density
    with ppl_settings():
        compiled = _compiled(form)
        u = _points(compiled, 1)[0]
        fused = jax.hessian(compiled.log_density_with)(u, compiled.traced_data)
        plain = jax.hessian(_plain(compiled))(u, compiled.traced_data)
        scale = float(jnp.max(abs(plain)))
        np.testing.assert_allclose(fused, plain, rtol=1e-10, atol=1e-10 * scale)


def test_the_rule_fires_for_data_and_transformed_data_and_not_for_a_parameter_matrix():
    with ppl_settings():
        data = _compiled("bernoulli_logit")
        u = jnp.zeros(data.dimension)
        assert _fused_calls(jax.make_jaxpr(data.log_density)(u), (N, K)) == 1
        # and with the data traced, as the samplers' programs take them
        jaxpr = jax.make_jaxpr(data.log_density_with)(u, data.traced_data)
        assert _fused_calls(jaxpr, (N, K)) == 1

        transformed = ppl.model(HEAD + BINARY + COEFS + "Z = X * 2\n"
                                "y ~ bernoulli_logit(alpha + Z * beta)\n").compile(_data("binary"))
        assert list(transformed.glm_plans) == ["y"]

        parameter = ppl.model("data N: int\ndata K: int\n" + BINARY
                              + "X: matrix[N, K] ~ normal(0, 1)\n" + COEFS
                              + "y ~ bernoulli_logit(alpha + X * beta)\n"
                              ).compile({k: v for k, v in _data("binary").items() if k != "X"})
        assert parameter.glm_plans == {}
        u = jnp.zeros(parameter.dimension)
        assert _fused_calls(jax.make_jaxpr(parameter.log_density)(u), (N, K)) == 0
        assert np.isfinite(float(jax.grad(parameter.log_density)(u)[0]))

        # a design matrix that is an expression, or a definition of the predictor: as written
        for statement in ("y ~ bernoulli_logit(alpha + (X + 1) * beta)",
                          "eta = alpha + X * beta\ny ~ bernoulli_logit(eta)"):
            other = ppl.model(HEAD + BINARY + COEFS + statement + "\n").compile(_data("binary"))
            assert other.glm_plans == {}


def test_a_statement_over_a_range_keeps_the_plain_path():
    with ppl_settings():
        statement = "y[n] ~ bernoulli_logit(alpha + dot_product(X[n], beta)) for n in 1:N\n"
        compiled = ppl.model(HEAD + BINARY + COEFS + statement).compile(_data("binary"))
        assert compiled.glm_plans == {}


def test_vmap_over_chains_batches_the_one_pass_rule():
    with ppl_settings():
        compiled = _compiled("normal")
        us = jnp.stack(_points(compiled, 3))
        batched = jax.jit(jax.vmap(jax.value_and_grad(compiled.log_density_with), (0, None)))
        values, grads = batched(us, compiled.traced_data)
        plain = jax.jit(jax.value_and_grad(_plain(compiled)))
        for u, value, grad in zip(us, values, grads, strict=True):
            v, g = plain(u, compiled.traced_data)
            assert float(value) == pytest.approx(float(v), rel=1e-10)
            np.testing.assert_allclose(grad, g, rtol=1e-10, atol=1e-10 * float(jnp.max(abs(g))))


def _reference(family, x, y, alpha, beta, sigma=None):
    eta = alpha + x @ beta
    dist = {"bernoulli": lambda: nd.BernoulliLogits(eta), "poisson": lambda: nd.Poisson(
        jnp.exp(eta)), "normal": lambda: nd.Normal(eta, sigma)}[family]()
    return jnp.sum(dist.log_prob(y))


@pytest.mark.parametrize("family", ["bernoulli", "poisson", "normal"])
@pytest.mark.parametrize("block_rows", [7, 60])
def test_blocks_of_rows_with_a_ragged_last_block(family, block_rows):
    # 60 rows in blocks of 7: eight whole blocks and a last one of 4; of 60: one block
    rng = np.random.default_rng(3)
    with ppl_settings():
        x = jnp.asarray(rng.normal(size=(N, K)))
        y = jnp.asarray({"bernoulli": (rng.random(N) < 0.5) * 1.0, "poisson":
                         rng.poisson(2.0, N) * 1.0, "normal": rng.normal(size=N)}[family])
        alpha, beta = jnp.asarray(rng.normal(size=N)), jnp.asarray(0.5 * rng.normal(size=K))
        sigma = jnp.asarray(rng.uniform(0.5, 2.0, N)) if family == "normal" else None

        def fused(x, y, alpha, beta, sigma):
            return glm_log_likelihood(family, x, y, alpha, beta, sigma, block_rows=block_rows)

        def plain(x, y, alpha, beta, sigma):
            return _reference(family, x, y, alpha, beta, sigma)

        args = (x, y, alpha, beta, sigma)
        argnums = (0, 1, 2, 3, 4) if family == "normal" else (0, 1, 2, 3)
        (v1, g1) = jax.jit(jax.value_and_grad(fused, argnums))(*args)
        (v2, g2) = jax.jit(jax.value_and_grad(plain, argnums))(*args)
        assert float(v1) == pytest.approx(float(v2), rel=1e-10)
        for a, b in zip(g1, g2, strict=True):  # x and y included: gradients in the data too
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * float(jnp.max(abs(b))))
        # the blocked loop is there when the blocks are fewer than the rows
        jaxpr = str(jax.make_jaxpr(jax.grad(fused, 3))(*args))
        assert ("scan" in jaxpr) == (block_rows < N)


def test_block_rows_grow_with_the_matrix():
    small = jax.ShapeDtypeStruct((20_000, 50), jnp.float64)  # 8 MB: one block, in cache
    large = jax.ShapeDtypeStruct((2_000_000, 50), jnp.float64)
    assert block_rows_for(small) == 20_000
    assert 1000 <= block_rows_for(large) <= 10_000
