"""Language constructs for the shapes of real models: transpose (``x'``), continuation lines
checked end to end, multi-index comprehensions, ranges not starting at 1 and arrays of
vectors and matrices. Values are compared with NumPy computations of the same quantities."""

from __future__ import annotations

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl

RNG = np.random.default_rng(20261206)


def _compile(source: str, data: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unused data, flat priors: beside the point here
        return ppl.model(source).compile(data)


def _generated(compiled, u=None) -> dict:
    """The deterministic and latent values at the unconstrained point ``u`` (random if None)."""
    if u is None:
        u = RNG.uniform(-1, 1, compiled.dimension)
    return {k: np.asarray(v) for k, v in jax.jit(compiled.generated)(jnp.asarray(u)).items()}


# ------------------------------------------------------------------------------- transpose

TRANSPOSE = """
data N: int
data K: int
data x: vector[N]
data y: vector[N]
data A: matrix[N, N]
data X: matrix[N, K]
dot_xy = x' * y
quad = x' * A * x
half_quad = 0.5 * x' * A * x
row_times_matrix = (x' * X)'
outer = x * y'
At = A'
Xt_x = X' * x
minus = -x' * y
spelt = transpose(x) * y
per_row[n] = X[n]' * X[n] for n in 1:N
"""


def test_transpose_values_match_numpy():
    n, k = 4, 3
    data = {"N": n, "K": k, "x": RNG.normal(size=n), "y": RNG.normal(size=n),
            "A": RNG.normal(size=(n, n)), "X": RNG.normal(size=(n, k))}
    values = _compile(TRANSPOSE, data).data
    x, y, a, xm = data["x"], data["y"], data["A"], data["X"]
    want = {"dot_xy": x @ y, "quad": x @ a @ x, "half_quad": 0.5 * x @ a @ x,
            "row_times_matrix": xm.T @ x, "outer": np.outer(x, y), "At": a.T,
            "Xt_x": xm.T @ x, "minus": -(x @ y), "spelt": x @ y,
            "per_row": (xm * xm).sum(axis=1)}
    for name, value in want.items():
        np.testing.assert_allclose(np.asarray(values[name]), value, rtol=1e-12, err_msg=name)


def test_transpose_of_parameters_in_the_log_density():
    """A quadratic form of a parameter: the density is Gaussian with precision P."""
    source = """
    data K: int
    data P: matrix[K, K]
    param z: vector[K]
    target += -0.5 * z' * P * z
    """
    k = 3
    p = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.0]])
    compiled = _compile(source, {"K": k, "P": p})
    u = RNG.normal(size=k)
    assert float(compiled.log_density(jnp.asarray(u))) == pytest.approx(-0.5 * u @ p @ u,
                                                                       rel=1e-12)
    want = stats.multivariate_normal(np.zeros(k), np.linalg.inv(p)).logpdf(u) \
        - stats.multivariate_normal(np.zeros(k), np.linalg.inv(p)).logpdf(np.zeros(k))
    assert float(compiled.log_density(jnp.asarray(u))) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("line, message", [
    ("r = x'", "this is a transposed vector (a row)"),
    ("r = log(x')", "this is a transposed vector (a row)"),
    ("r = x'[1]", "this is a transposed vector (a row)"),
    ("r = x' * y'", "two rows (transposed vectors) cannot be multiplied"),
    ("r = A * x'", "matrix[N, N] cannot be on the left of a row"),
    ("r = s'", "only a vector or a matrix can be transposed, not real"),
])
def test_transpose_misuse_is_a_located_error(line, message):
    head = ("data N: int\ndata x: vector[N]\ndata y: vector[N]\ndata A: matrix[N, N]\n"
            "data s: real\n")
    with pytest.raises(ppl.ModelError) as info:
        ppl.model(head + line + "\n", "m.ppl")
    assert str(info.value).startswith("m.ppl:6:")
    assert message in str(info.value)


# ------------------------------------------------------------------- multi-index statements

GRID = """
data N: int
data K: int
data x: vector[N]
data b: vector[K]
data y: matrix[N, K]
m[i, j] = x[i] * b[j] + i for i in 1:N, j in 1:K
g = [x[i] - b[j] for i in 1:N, j in 1:K]
per_column = [sum(m[:, j]) for j in 1:K]
mu ~ normal(0, 1)
s ~ half_normal(1)
eta[n, k] = mu + x[n] + b[k] for n in 1:N, k in 1:K
y[n, k] ~ normal(eta[n, k], s)
    for n in 1:N, k in 1:K
"""


def test_multi_index_definitions_and_comprehensions_match_numpy():
    n, k = 4, 3
    data = {"N": n, "K": k, "x": RNG.normal(size=n), "b": RNG.normal(size=k),
            "y": RNG.normal(size=(n, k))}
    compiled = _compile(GRID, data)
    x, b = data["x"], data["b"]
    m = np.outer(x, b) + np.arange(1, n + 1)[:, None]
    np.testing.assert_allclose(compiled.data["m"], m, rtol=1e-12)
    np.testing.assert_allclose(compiled.data["g"], x[:, None] - b[None, :], rtol=1e-12)
    np.testing.assert_allclose(compiled.data["per_column"], m.sum(axis=0), rtol=1e-12)
    u = RNG.normal(size=compiled.dimension)
    values = _generated(compiled, u)
    mu, s = float(values["mu"]), float(values["s"])
    np.testing.assert_allclose(values["eta"], mu + x[:, None] + b[None, :], rtol=1e-12)
    _, likelihood = compiled.log_density_parts(jnp.asarray(u))
    want = stats.norm.logpdf(data["y"], mu + x[:, None] + b[None, :], s).sum()
    assert float(likelihood) == pytest.approx(want, rel=1e-12)


def test_multi_index_parameters_and_part_of_an_observed_grid():
    """A latent over a grid has the grid's shape; an observed statement over part of a
    matrix (rows 2:N) conditions on that part only."""
    source = """
    data N: int
    data K: int
    data y: matrix[N, K]
    z[n, k] ~ normal(n + 10 * k, 1) for n in 1:N, k in 1:K
    y[n, k] ~ normal(z[n, k], 2) for n in 2:N, k in 1:K
    """
    n, k = 3, 2
    y = RNG.normal(size=(n, k))
    compiled = _compile(source, {"N": n, "K": k, "y": y})
    assert compiled.dimension == n * k
    u = RNG.normal(size=n * k)
    z = u.reshape(n, k)
    prior, likelihood = compiled.log_density_parts(jnp.asarray(u))
    centre = np.arange(1, n + 1)[:, None] + 10 * np.arange(1, k + 1)[None, :]
    assert float(prior) == pytest.approx(stats.norm.logpdf(z, centre, 1).sum(), rel=1e-12)
    assert float(likelihood) == pytest.approx(stats.norm.logpdf(y[1:], z[1:], 2).sum(),
                                              rel=1e-12)
    draw = compiled.prior_draw(jax.random.PRNGKey(0))
    assert np.shape(draw["z"]) == (n, k)


# ------------------------------------------------------------- ranges not starting at 1

PIECES = """
data T: int
data K: int
data y: vector[T]
x[1] = y[1]
x[t] = 0.5 * x[t - 1] + y[t] for t in 2:T
fib[1] = 1
fib[2] = 2 * fib[1]
fib[k] = fib[k - 1] + fib[k - 2] for k in 3:T
shifted[t] = y[t - 1] for t in 2:T
shifted[1] = 0
halves[t] = y[t] for t in 1:K
halves[t] = 2 * y[t] for t in K + 1:T
from_zero = [k * 1.0 for k in 0:K]
"""


def test_definitions_in_pieces_match_numpy():
    t, k = 6, 2
    y = RNG.normal(size=t)
    values = _compile(PIECES, {"T": t, "K": k, "y": y}).data
    x = np.empty(t)
    x[0] = y[0]
    for i in range(1, t):
        x[i] = 0.5 * x[i - 1] + y[i]
    np.testing.assert_allclose(values["x"], x, rtol=1e-12)
    np.testing.assert_allclose(values["fib"], [1, 2, 3, 5, 8, 13])
    np.testing.assert_allclose(values["shifted"], np.concatenate([[0], y[:-1]]))
    np.testing.assert_allclose(values["halves"], np.concatenate([y[:k], 2 * y[k:]]))
    np.testing.assert_allclose(values["from_zero"], np.arange(k + 1))


def test_a_recursion_in_pieces_of_parameters():
    """An AR(1) state started by its own piece: the density of the observations given the
    recursively defined mean matches a NumPy loop."""
    source = """
    data T: int
    data y: vector[T]
    rho ~ uniform(-1, 1)
    x0 ~ normal(0, 1)
    m[1] = x0
    m[t] = rho * m[t - 1] + y[t - 1] for t in 2:T
    y ~ normal(m, 1)
    """
    t = 5
    y = RNG.normal(size=t)
    compiled = _compile(source, {"T": t, "y": y})
    u = RNG.normal(size=compiled.dimension)
    values = _generated(compiled, u)
    rho, x0 = float(values["rho"]), float(values["x0"])
    m = np.empty(t)
    m[0] = x0
    for i in range(1, t):
        m[i] = rho * m[i - 1] + y[i - 1]
    np.testing.assert_allclose(values["m"], m, rtol=1e-12)
    _, likelihood = compiled.log_density_parts(jnp.asarray(u))
    assert float(likelihood) == pytest.approx(stats.norm.logpdf(y, m, 1).sum(), rel=1e-12)


@pytest.mark.parametrize("body, message", [
    ("x[t] = y[t] for t in 2:T", "x[1] is not defined: the range starts at 2"),
    ("x[1] = 0\nx[t] = y[t] for t in 1:T", "x[1] is defined twice"),
    ("x[1] = 0\nx[t] = y[t] for t in 3:T", "x[2] is not defined: no statement covers it"),
    ("x[1] = 0\nx[1] = 2", "x[1] is defined twice"),
    ("x[t] = y[t] for t in 1:K\nx[t] = y[t] for t in K:T", "x[2] is defined twice"),
    ("x[0] = 1", "the element index 0 must be a whole number of at least 1"),
    ("x[1] = 0 for t in 1:T", "'x[1]' is one element, so it takes no range"),
    ("y[1] ~ normal(0, 1)\ny[t] ~ cauchy(0, 1) for t in 2:T",
     "the pieces of 'y' must have the same distribution"),
    ("y[t] ~ normal(0, 1) for t in 1:T\ny[t] ~ normal(0, 2) for t in 4:T",
     "y[4:5] are given a distribution twice"),
])
def test_pieces_that_do_not_cover_the_range_are_located_errors(body, message):
    model = "data T: int\ndata K: int\ndata y: vector[T]\n" + body + "\n"
    with pytest.raises(ppl.PPLError) as info:
        _compile(model, {"T": 5, "K": 2, "y": np.arange(5.0)})
    assert message in str(info.value)
    assert re.match(r"<string>:[45]:\d+: error", str(info.value))


# ------------------------------------------------------------ arrays of vectors and matrices

ARRAYS = """
data N: int
data K: int
data y: vector[K][N]
data Sigmas: matrix[K, K][N]
data S: cov_matrix[K]
mu: vector[K] ~ normal(0, 1)
z: vector[K][N] ~ multi_normal(mu, S)
y[n] ~ multi_normal(mu, Sigmas[n]) for n in 1:N
first = z[1]
corner = z[2, 3]
traces = [sum(diagonal(Sigmas[n])) for n in 1:N]
"""


def _arrays_data(n: int = 4, k: int = 3) -> dict:
    sigmas = [np.eye(k) * (1 + i) + 0.2 for i in range(n)]
    return {"N": n, "K": k, "y": RNG.normal(size=(n, k)).tolist(),
            "Sigmas": [s.tolist() for s in sigmas], "S": (np.eye(k) + 0.3).tolist()}


def test_arrays_of_vectors_and_matrices_match_scipy():
    n, k = 4, 3
    data = _arrays_data(n, k)
    compiled = _compile(ARRAYS, data)
    sigmas, y, s = np.asarray(data["Sigmas"]), np.asarray(data["y"]), np.asarray(data["S"])
    np.testing.assert_allclose(compiled.data["traces"], np.trace(sigmas, axis1=1, axis2=2))
    assert compiled.dimension == k + n * k
    u = RNG.normal(size=compiled.dimension)
    values = _generated(compiled, u)
    mu, z = values["mu"], values["z"]
    assert z.shape == (n, k)
    np.testing.assert_allclose(values["first"], z[0])
    assert float(values["corner"]) == z[1, 2]
    prior, likelihood = compiled.log_density_parts(jnp.asarray(u))
    want_prior = stats.norm.logpdf(mu).sum() + stats.multivariate_normal(mu, s).logpdf(z).sum()
    want_likelihood = sum(stats.multivariate_normal(mu, sigmas[i]).logpdf(y[i])
                          for i in range(n))
    assert float(prior) == pytest.approx(want_prior, rel=1e-12)
    assert float(likelihood) == pytest.approx(want_likelihood, rel=1e-12)


def test_an_array_of_vectors_is_one_distribution_per_element():
    """``y ~ multi_normal(mu, S)`` on an array of N vectors is N draws: the same density as
    the statement written element-wise."""
    whole = ARRAYS.replace("y[n] ~ multi_normal(mu, Sigmas[n]) for n in 1:N",
                           "y ~ multi_normal(mu, S)")
    each = ARRAYS.replace("y[n] ~ multi_normal(mu, Sigmas[n]) for n in 1:N",
                          "y[n] ~ multi_normal(mu, S) for n in 1:N")
    data = _arrays_data()
    a, b = _compile(whole, data), _compile(each, data)
    u = jnp.asarray(RNG.normal(size=a.dimension))
    assert float(a.log_density(u)) == pytest.approx(float(b.log_density(u)), rel=1e-12)
    y, s = np.asarray(data["y"]), np.asarray(data["S"])
    mu = np.asarray(_generated(a, np.asarray(u))["mu"])
    assert float(a.log_density_parts(u)[1]) == pytest.approx(
        stats.multivariate_normal(mu, s).logpdf(y).sum(), rel=1e-12)


@pytest.mark.slow
def test_arrays_of_vectors_keep_their_shape_in_the_results():
    model = ppl.model(ARRAYS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.sample(_arrays_data(), chains=1, draws=20, warmup=20, seed=1)
    assert fit["posterior"]["z"].dims == ("chain", "draw", "N", "K")
    assert fit["posterior"]["z"].shape == (1, 20, 4, 3)
    assert fit["posterior"]["first"].dims == ("chain", "draw", "K")


def test_arrays_of_constrained_types_transform_each_element():
    """``simplex[K][N]`` and ``cholesky_factor_corr[K][N]``: one transform per element, with
    its log-Jacobian, and the prior's density per element (reference: NumPyro's own
    bijections and scipy's Dirichlet). ``lkj_corr_cholesky`` over an array is refused
    (NumPyro's LKJ does not batch under strict rank promotion)."""
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import biject_to

    source = """
    data K: int
    data N: int
    param theta: simplex[K][N]
    alpha: simplex[K][N] ~ dirichlet([1, 2, 3])
    param L: cholesky_factor_corr[K][N]
    """
    k, n = 3, 2
    compiled = _compile(source, {"K": k, "N": n})
    blocks = {b.name: b for b in compiled.blocks}
    assert blocks["theta"].shape == (n, k) and blocks["L"].shape == (n, k, k)
    u = RNG.normal(size=compiled.dimension)

    def raw(name):
        b = blocks[name]
        return jnp.asarray(u[b.offset:b.offset + b.size].reshape(b.unconstrained_shape))

    simplex, corr = biject_to(constraints.simplex), biject_to(constraints.corr_cholesky)
    want = 0.0
    for i in range(n):
        want += float(simplex.log_abs_det_jacobian(raw("theta")[i], simplex(raw("theta")[i])))
        a = simplex(raw("alpha")[i])
        want += float(simplex.log_abs_det_jacobian(raw("alpha")[i], a))
        want += stats.dirichlet([1, 2, 3]).logpdf(np.asarray(a))
        chol = corr(raw("L")[i])
        want += float(corr.log_abs_det_jacobian(raw("L")[i], chol))
    assert float(compiled.log_density(jnp.asarray(u))) == pytest.approx(want, rel=1e-10)
    values = compiled.constrain(jnp.asarray(u))
    np.testing.assert_allclose(np.asarray(values["theta"]).sum(axis=-1), 1.0)
    with pytest.raises(ppl.ModelError, match="lkj_corr_cholesky over an array of matrices"):
        ppl.model("data K: int\ndata N: int\n"
                  "L: cholesky_factor_corr[K][N] ~ lkj_corr_cholesky(2)\n")


def test_distributions_in_pieces_match_scipy():
    """``y[1] ~ ...`` with ``y[t] ~ ... for t in 2:T``: one statement whose arguments depend on
    the piece; for latents, observed data (which may refer to its own earlier elements) and
    a hidden Markov chain (the same density as its single-statement form)."""
    source = """
    data T: int
    data y: vector[T]
    mu ~ normal(0, 1)
    s ~ half_normal(1)
    x[1] ~ normal(0, 10)
    x[t] ~ normal(mu, s) for t in 2:T
    y[1] ~ normal(x[1] + mu, 5)
    y[t] ~ normal(x[t] + 0.5 * y[t - 1], 1) for t in 2:T
    """
    t = 4
    y = RNG.normal(size=t)
    compiled = _compile(source, {"T": t, "y": y})
    u = jnp.asarray(RNG.normal(size=compiled.dimension))
    v = {k: np.asarray(a) for k, a in compiled.constrain(u).items()}
    x, mu, s = v["x"], float(v["mu"]), float(v["s"])
    prior, likelihood = compiled.log_density_parts(u)
    want = stats.norm.logpdf(y[0], x[0] + mu, 5) \
        + stats.norm.logpdf(y[1:], x[1:] + 0.5 * y[:-1], 1).sum()
    assert float(likelihood) == pytest.approx(want, rel=1e-12)
    want = stats.norm.logpdf(mu) + stats.halfnorm.logpdf(s) + np.log(s) \
        + stats.norm.logpdf(x[0], 0, 10) + stats.norm.logpdf(x[1:], mu, s).sum()
    assert float(prior) == pytest.approx(want, rel=1e-12)

    hmm = """
    data T: int
    data y: real[T]
    rho: simplex[2] ~ dirichlet([1, 1])
    P: simplex[2][2] ~ dirichlet([2, 2])
    mu: ordered[2] ~ normal(0, 3)
    z[1] ~ categorical(rho)
    z[t] ~ categorical(P[z[t - 1]]) for t in 2:T
    y[t] ~ normal(mu[z[t]], 1) for t in 1:T
    """
    one = hmm.replace("z[1] ~ categorical(rho)\n    z[t] ~ categorical(P[z[t - 1]]) for t in 2:T",
                      "z[t] ~ categorical(if t == 1 then rho else P[z[t - 1]]) for t in 1:T")
    assert one != hmm
    data = {"T": 5, "y": [0.1, 2.0, 2.1, -0.5, 0.3]}
    a, b = _compile(hmm, data), _compile(one, data)
    u = jnp.asarray(RNG.normal(size=a.dimension))
    assert float(a.log_density(u)) == pytest.approx(float(b.log_density(u)), rel=1e-12)
