"""Code generation: the compiled log-density against hand-written scipy.stats sums, the
transforms to and from the unconstrained space, the split into prior and likelihood, and the
float32 option.

Each model is evaluated at a few random unconstrained points, all in one jitted, vmapped call
(compiling once per model keeps the file fast).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import ppl

RNG = np.random.default_rng(20240611)


def _compile(source: str, data: dict, precision: str = "float64"):
    return ppl.model(source).compile(data, precision=precision)


def _evaluate(compiled, points: np.ndarray):
    """(log_density, log_prior, log_likelihood, constrained values) at each row of ``points``."""
    def one(u):
        prior, lik = compiled.log_density_parts(u)
        return compiled.log_density(u), prior, lik, compiled.constrain(u)

    return jax.jit(jax.vmap(one))(jnp.asarray(points, compiled.dtype))


def _points(compiled, n: int = 3) -> np.ndarray:
    return RNG.uniform(-1.5, 1.5, size=(n, compiled.dimension))


def _values(constrained: dict, i: int) -> dict:
    return {k: np.asarray(v[i], dtype=np.float64) for k, v in constrained.items()}


def _block(compiled, u: np.ndarray, name: str) -> np.ndarray:
    b = next(b for b in compiled.blocks if b.name == name)
    return np.asarray(u[b.offset: b.offset + b.size]).reshape(b.unconstrained_shape)


def check_against(compiled, reference, n: int = 3, rtol: float = 1e-9):
    """``reference(values, u) -> (log prior incl. Jacobian, log likelihood)`` at random points."""
    points = _points(compiled, n)
    density, prior, lik, constrained = _evaluate(compiled, points)
    np.testing.assert_allclose(np.asarray(density), np.asarray(prior + lik), rtol=1e-12)
    for i, u in enumerate(points):
        want_prior, want_lik = reference(_values(constrained, i), u)
        np.testing.assert_allclose(float(prior[i]), want_prior, rtol=rtol, atol=1e-9)
        np.testing.assert_allclose(float(lik[i]), want_lik, rtol=rtol, atol=1e-9)
        np.testing.assert_allclose(float(density[i]), want_prior + want_lik, rtol=rtol,
                                   atol=1e-9)
    return points, constrained


# --------------------------------------------------------------------------- the models

NORMAL = """
data N: int
data y: vector[N]
mu ~ normal(1, 5)
sigma ~ half_normal(2)
y ~ normal(mu, sigma)
"""
NORMAL_DATA = {"N": 5, "y": [0.3, -1.2, 2.5, 0.9, 1.4]}


def test_normal_with_half_normal_scale():
    compiled = _compile(NORMAL, NORMAL_DATA)
    y = np.asarray(NORMAL_DATA["y"])

    def reference(v, u):
        mu, sigma = v["mu"], v["sigma"]
        assert sigma == pytest.approx(np.exp(_block(compiled, u, "sigma")))  # exp transform
        prior = (stats.norm.logpdf(mu, 1, 5) + stats.halfnorm.logpdf(sigma, scale=2)
                 + np.log(sigma))  # log |d sigma / d u| of sigma = exp(u)
        return prior, stats.norm.logpdf(y, mu, sigma).sum()

    check_against(compiled, reference)
    assert compiled.latent_names == ["mu", "sigma"] and compiled.dimension == 2


LOGISTIC = """
data N: int
data K: int
data X: matrix[N, K]
data y: int[N]
alpha ~ normal(0, 1)
beta: vector[K] ~ normal(0, 2)
y ~ bernoulli_logit(alpha + X * beta)
"""
LOGISTIC_DATA = {"N": 6, "K": 3, "X": RNG.normal(size=(6, 3)), "y": [0, 1, 1, 0, 1, 1]}


def test_bernoulli_logit_regression_with_a_matrix_product():
    compiled = _compile(LOGISTIC, LOGISTIC_DATA)
    X, y = LOGISTIC_DATA["X"], np.asarray(LOGISTIC_DATA["y"])

    def reference(v, u):
        alpha, beta = v["alpha"], v["beta"]
        p = special.expit(alpha + X @ beta)
        prior = stats.norm.logpdf(alpha, 0, 1) + stats.norm.logpdf(beta, 0, 2).sum()
        return prior, stats.bernoulli.logpmf(y, p).sum()

    check_against(compiled, reference)
    assert compiled.dimension == 4


POISSON = """
data N: int
data x: vector[N]
data counts: int[N] >= 0
a ~ normal(0, 1)
b ~ normal(0, 0.5)
counts ~ poisson_log(a + b * x)
"""
POISSON_DATA = {"N": 4, "x": [-1.0, 0.0, 0.5, 2.0], "counts": [0, 3, 1, 7]}


def test_poisson_log():
    compiled = _compile(POISSON, POISSON_DATA)
    x, counts = np.asarray(POISSON_DATA["x"]), np.asarray(POISSON_DATA["counts"])

    def reference(v, u):
        a, b = v["a"], v["b"]
        prior = stats.norm.logpdf(a, 0, 1) + stats.norm.logpdf(b, 0, 0.5)
        return prior, stats.poisson.logpmf(counts, np.exp(a + b * x)).sum()

    check_against(compiled, reference)


CATEGORICAL = """
data N: int
data K: int
data y: int[N]
theta: vector[K] ~ dirichlet([1.0, 2.0, 3.0])
y ~ categorical(theta)
"""
CATEGORICAL_DATA = {"N": 5, "K": 3, "y": [1, 3, 3, 2, 3]}


def test_dirichlet_and_categorical():
    compiled = _compile(CATEGORICAL, CATEGORICAL_DATA)
    y = np.asarray(CATEGORICAL_DATA["y"])
    assert compiled.dimension == 2  # a simplex of 3 has 2 free coordinates

    def free_coordinates(u):  # theta[1:K-1] as a function of u: its Jacobian is square
        return compiled.constrain(u)["theta"][:-1]

    jacobian = jax.jit(jax.jacobian(free_coordinates))

    def reference(v, u):
        theta = v["theta"]
        assert theta.sum() == pytest.approx(1.0) and np.all(theta > 0)
        log_jacobian = np.linalg.slogdet(np.asarray(jacobian(jnp.asarray(u))))[1]
        prior = stats.dirichlet.logpdf(theta, [1.0, 2.0, 3.0]) + log_jacobian
        return prior, np.log(theta[y - 1]).sum()  # categories are 1-based

    check_against(compiled, reference)


GROUPS = """
data N: int
data G: int
data g: int[N] in [1, G]
data y: vector[N]
a: vector[G] ~ normal(0, 1)
s ~ half_normal(1)
y[n] ~ normal(a[g[n]], s) for n in 1:N
"""
GROUPS_DATA = {"N": 6, "G": 3, "g": [1, 2, 2, 3, 1, 3], "y": [0.1, 1.5, 1.2, -0.7, 0.4, -1.1]}


def test_indexed_comprehension():
    compiled = _compile(GROUPS, GROUPS_DATA)
    g, y = np.asarray(GROUPS_DATA["g"]), np.asarray(GROUPS_DATA["y"])

    def reference(v, u):
        a, s = v["a"], v["s"]
        prior = stats.norm.logpdf(a, 0, 1).sum() + stats.halfnorm.logpdf(s) + np.log(s)
        return prior, stats.norm.logpdf(y, a[g - 1], s).sum()

    check_against(compiled, reference)


ROWS = """
data N: int
data K: int
data Y: matrix[N, K]
mu: vector[K] ~ normal(0, 1)
s: vector[N] ~ half_normal(1)
Y[n] ~ normal(mu, s[n]) for n in 1:N
"""


@pytest.mark.parametrize("n, k", [(2, 2), (3, 2)])
def test_comprehension_over_rows_uses_the_scale_of_each_row(n, k):
    """Each row n has scale s[n]; a right-aligned broadcast of s against the (N, K) means
    would give column k the scale s[k] instead, silently when N == K."""
    Y = RNG.normal(size=(n, k))
    compiled = _compile(ROWS, {"N": n, "K": k, "Y": Y})

    def reference(v, u):
        mu, s = v["mu"], v["s"]
        prior = (stats.norm.logpdf(mu).sum() + stats.halfnorm.logpdf(s).sum()
                 + np.log(s).sum())
        return prior, stats.norm.logpdf(Y, mu[None, :], s[:, None]).sum()

    check_against(compiled, reference)


AUTOREGRESSIVE = """
data N: int
data y: vector[N]
a ~ normal(0, 1)
s ~ exponential(2)
y[n] ~ normal(a * y[n - 1], s) for n in 2:N
"""


def test_observed_data_in_its_own_distribution_over_a_shifted_range():
    y = np.array([0.5, 0.9, 0.2, -0.4, 0.1])
    compiled = _compile(AUTOREGRESSIVE, {"N": 5, "y": y})

    def reference(v, u):
        a, s = v["a"], v["s"]
        prior = stats.norm.logpdf(a) + stats.expon.logpdf(s, scale=1 / 2) + np.log(s)
        return prior, stats.norm.logpdf(y[1:], a * y[:-1], s).sum()

    check_against(compiled, reference)


BOUNDED = """
param p: real in [0, 1]
p ~ beta(2, 3)
param s: real > 1
param t: real < -1
q: vector[3] ~ beta(2, 3)
"""


def test_declared_bounds_and_flat_priors():
    compiled = _compile(BOUNDED, {})

    def reference(v, u):
        p, s, t, q = v["p"], v["s"], v["t"], v["q"]
        assert 0 < p < 1 and s > 1 and t < -1
        prior = (stats.beta.logpdf(p, 2, 3) + np.log(p * (1 - p))  # logit transform
                 + np.log(s - 1) + np.log(-1 - t)  # shifted exp transforms, flat priors
                 + (stats.beta.logpdf(q, 2, 3) + np.log(q * (1 - q))).sum())
        return prior, 0.0

    check_against(compiled, reference)


FACTOR = """
data N: int
data x: vector[N]
c = mean(x)
m ~ normal(c, 1)
shift = m - c
target += -0.5 * square(m - x)
"""


def test_target_increment_transformed_data_and_deterministics():
    x = np.array([1.0, 2.0, 4.5])
    compiled = _compile(FACTOR, {"N": 3, "x": x})
    assert float(compiled.data["c"]) == pytest.approx(x.mean())  # computed once, at compile

    def reference(v, u):
        m = v["m"]
        return stats.norm.logpdf(m, x.mean(), 1), (-0.5 * (m - x) ** 2).sum()

    points, _ = check_against(compiled, reference)
    generated = jax.jit(compiled.generated)(jnp.asarray(points[0]))
    assert float(generated["shift"]) == pytest.approx(points[0][0] - x.mean())


def test_eight_schools_deterministic_and_pointwise_likelihood(examples_dir):
    import json

    data = json.loads((examples_dir / "eight_schools.json").read_text())
    compiled = ppl.load(examples_dir / "eight_schools.ppl").compile(data)
    u = jnp.asarray(_points(compiled, 1)[0])
    values, pointwise, lik = jax.jit(lambda u: (
        compiled.generated(u), compiled.pointwise_log_likelihood(u)["y"],
        compiled.log_likelihood(u)))(u)
    np.testing.assert_allclose(values["theta"],
                               values["mu"] + values["tau"] * values["theta_raw"])
    y, sigma = np.asarray(data["y"]), np.asarray(data["sigma"])
    np.testing.assert_allclose(pointwise, stats.norm.logpdf(y, values["theta"], sigma))
    assert float(lik) == pytest.approx(float(pointwise.sum()))


# ---------------------------------------------------------------------- transforms

ROUND_TRIP = [
    (NORMAL, NORMAL_DATA),
    (CATEGORICAL, CATEGORICAL_DATA),
    (BOUNDED, {}),
    (GROUPS, GROUPS_DATA),
    ("L: matrix[3, 3] ~ lkj_corr_cholesky(2)\n", {}),
]


@pytest.mark.parametrize("source, data", ROUND_TRIP)
def test_constrain_unconstrain_round_trip(source, data):
    compiled = _compile(source, data)
    points = _points(compiled, 2)
    round_trip = jax.jit(jax.vmap(lambda u: compiled.unconstrain(compiled.constrain(u))))
    np.testing.assert_allclose(np.asarray(round_trip(jnp.asarray(points))), points, atol=1e-8)


def test_lkj_cholesky_factor_is_a_correlation_factor():
    compiled = _compile("L: matrix[3, 3] ~ lkj_corr_cholesky(2)\n", {})
    assert compiled.dimension == 3
    L = np.asarray(jax.jit(compiled.constrain)(jnp.asarray(_points(compiled, 1)[0]))["L"])
    np.testing.assert_allclose(np.triu(L, 1), 0.0)
    np.testing.assert_allclose(np.linalg.norm(L, axis=1), 1.0)


def test_unconstrain_of_known_values():
    compiled = _compile(NORMAL, NORMAL_DATA)
    u = np.asarray(compiled.unconstrain({"mu": 0.25, "sigma": 3.0}))
    np.testing.assert_allclose(u, [0.25, np.log(3.0)])
    values = jax.jit(compiled.constrain)(jnp.asarray(u))
    assert float(values["sigma"]) == pytest.approx(3.0)


def test_gradient_matches_finite_differences():
    compiled = _compile(LOGISTIC, LOGISTIC_DATA)
    f = jax.jit(compiled.log_density)
    grad = jax.jit(jax.grad(compiled.log_density))
    u = _points(compiled, 1)[0]
    eps = 1e-6
    numeric = [(float(f(u + eps * e)) - float(f(u - eps * e))) / (2 * eps)
               for e in np.eye(len(u))]
    np.testing.assert_allclose(np.asarray(grad(jnp.asarray(u))), numeric, rtol=1e-5)


def test_initial_point_and_layout():
    compiled = _compile(CATEGORICAL + "mu: vector[2] ~ normal(0, 1)\n", CATEGORICAL_DATA)
    assert [(b.name, b.shape, b.unconstrained_shape, b.offset) for b in compiled.blocks] == [
        ("theta", (3,), (2,), 0), ("mu", (2,), (2,), 2)]
    point = np.asarray(compiled.initial_point(jax.random.PRNGKey(0)))
    assert point.shape == (4,) and np.all(np.abs(point) <= 2)


def test_predictive_and_prior_draws_have_the_declared_shapes():
    compiled = _compile(GROUPS, GROUPS_DATA)
    u = jnp.asarray(_points(compiled, 1)[0])
    draws = jax.jit(compiled.predictive)(jax.random.PRNGKey(1), u)
    assert set(draws) == {"y"} and draws["y"].shape == (6,)
    prior = jax.jit(compiled.prior_draw)(jax.random.PRNGKey(2))
    assert {k: v.shape for k, v in prior.items()} == {"a": (3,), "s": (), "y": (6,)}
    categorical = _compile(CATEGORICAL, CATEGORICAL_DATA)
    y = jax.jit(categorical.prior_draw)(jax.random.PRNGKey(3))["y"]
    assert y.shape == (5,) and set(np.asarray(y).tolist()) <= {1, 2, 3}  # 1-based


# ---------------------------------------------------------------------------- precision


def test_float32_precision():
    single = _compile(LOGISTIC, LOGISTIC_DATA, precision="float32")
    double = _compile(LOGISTIC, LOGISTIC_DATA)
    assert single.dtype == jnp.float32 and single.data["X"].dtype == jnp.float32
    assert single.data["y"].dtype.kind == "i"
    points = _points(single, 2)
    low = _evaluate(single, points)
    high = _evaluate(double, points)
    assert low[0].dtype == jnp.float32 and high[0].dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(low[0]), np.asarray(high[0]), rtol=1e-5)
    assert single.initial_point(jax.random.PRNGKey(0)).dtype == jnp.float32


def test_unknown_precision_is_a_located_error():
    with pytest.raises(ppl.SamplingError) as info:
        ppl.model(NORMAL).compile(NORMAL_DATA, precision="float16")
    assert str(info.value) == ("<model>: error: unknown precision 'float16'\n"
                               "  hint: use 'float64' (default) or 'float32'")


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux's /proc")
def test_compiled_programs_are_released_when_the_process_runs_short_of_memory_maps():
    from ppl.codegen.programs import release_programs_when_crowded

    square = jax.jit(lambda x: x * x)
    square(jnp.ones(3))
    assert square._cache_size() == 1
    assert not release_programs_when_crowded(fraction=1.0)  # far from the kernel's limit
    assert square._cache_size() == 1
    # Any process holds some maps, so with fraction 0 it is "crowded": the caches are emptied.
    assert release_programs_when_crowded(fraction=0.0)
    assert square._cache_size() == 0
    assert float(square(jnp.ones(3))[0]) == 1.0  # and the program is compiled again on use


def test_releasing_programs_does_nothing_without_proc(tmp_path):
    """Without /proc (macOS, Windows) the check is skipped: no error, the caches are kept;
    an unreadable limit means Linux's default."""
    from ppl.codegen.programs import release_programs_when_crowded

    square = jax.jit(lambda x: x * x)
    square(jnp.ones(3))
    missing = str(tmp_path / "no-proc" / "maps")
    assert not release_programs_when_crowded(fraction=0.0, maps_file=missing,
                                             limit_file=missing)
    assert square._cache_size() == 1
    maps = tmp_path / "maps"
    maps.write_text("map\n" * 3)
    limit = tmp_path / "max_map_count"
    limit.write_text("4\n")
    assert not release_programs_when_crowded(fraction=0.9, maps_file=str(maps),
                                             limit_file=str(limit))  # 3 <= 0.9 * 4
    assert square._cache_size() == 1
    assert release_programs_when_crowded(fraction=0.5, maps_file=str(maps),
                                         limit_file=str(limit))  # 3 > 0.5 * 4
    assert square._cache_size() == 0
    # An unreadable limit is taken as Linux's default, 65530: 3 maps are far from it.
    assert not release_programs_when_crowded(fraction=0.5, maps_file=str(maps),
                                             limit_file=missing)
