"""Recursions, moving windows, conditionals, constrained types and log-density functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl


def _error(src: str, data=None) -> str:
    with pytest.raises(ppl.PPLError) as info:
        model = ppl.model(src, "m.ppl")
        if data is not None:
            model.compile(data)
    return str(info.value)


def test_recursion_compiles_to_a_scan_and_matches_a_python_loop():
    src = """
data T: int
data y: real[T]
param a: real
s[t] = (if t == 1 then 1.0 else 0.5 * s[t - 1] + a * y[t - 1]) for t in 1:T
y ~ normal(0, exp(s))
"""
    y = np.array([0.3, -1.2, 0.8, 2.0, -0.1])
    compiled = ppl.model(src).compile({"T": 5, "y": y})
    u = jnp.array([0.7])
    s = [1.0]
    for t in range(1, 5):
        s.append(0.5 * s[-1] + 0.7 * y[t - 1])
    expected = stats.norm(0, np.exp(s)).logpdf(y).sum()
    assert float(compiled.log_density(u)) == pytest.approx(expected, rel=1e-10)
    jaxpr = str(jax.make_jaxpr(compiled.log_density)(u))
    assert "scan" in jaxpr
    assert np.isfinite(np.asarray(jax.grad(compiled.log_density)(u))).all()


def test_a_condition_on_the_index_splits_the_scan_instead_of_branching_at_every_step():
    # The start of a recursion written as a conditional is scanned apart from the rest: no
    # lax.cond per step (it doubled the gradient time of the forward algorithm).
    src = """
data T: int
data y: real[T]
param a: real
s[t] = (if t == 1 then 1.0 else if t == 2 then a else 0.5 * s[t - 1] + a * s[t - 2]
       ) for t in 1:T
y ~ normal(0, exp(s))
"""
    y = np.array([0.3, -1.2, 0.8, 2.0, -0.1, 0.4])
    compiled = ppl.model(src).compile({"T": 6, "y": y})
    u = jnp.array([0.3])
    s = [1.0, 0.3]
    for _ in range(2, 6):
        s.append(0.5 * s[-1] + 0.3 * s[-2])
    assert float(compiled.log_density(u)) == pytest.approx(
        stats.norm(0, np.exp(s)).logpdf(y).sum(), rel=1e-10)
    jaxpr = str(jax.make_jaxpr(compiled.log_density)(u))
    assert "scan" in jaxpr and " cond[" not in jaxpr
    # A condition on a parameter cannot be decided before sampling: it stays a conditional.
    on_a = src.replace("if t == 2 then a", "if a > 0 then a")
    jaxpr = str(jax.make_jaxpr(ppl.model(on_a).compile({"T": 6, "y": y}).log_density)(u))
    assert " cond[" in jaxpr


def test_recursion_with_two_lags():
    src = """
data T: int
f[t] = (if t <= 2 then 1 else f[t - 1] + f[t - 2]) for t in 1:T
x ~ normal(f[T], 1)
"""
    compiled = ppl.model(src).compile({"T": 10})
    assert compiled.graph["f"].kind == "transformed_data"  # computed once, before sampling
    assert np.asarray(compiled.data["f"]).tolist() == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


def test_recursion_that_is_not_well_founded_is_an_error():
    message = _error("""
data T: int
s[t] = s[t + 1] * 2 for t in 1:T
x ~ normal(s[1], 1)
""")
    assert "m.ppl:3:8: error: 's' refers to itself here in a way that is not well-founded" \
        in message
    assert "s[t - 1], s[t - 2], ... (a constant lag >= 1)" in message


def test_moving_window_matches_explicit_lags():
    src = """
data T: int
data y: real[T]
b: vector[2] ~ normal(0, 1)
y[t] ~ normal(dot(b, y[t - 2:t - 1]), 1) for t in 3:T
"""
    y = np.array([0.1, 0.4, -0.3, 0.9, 1.1, -0.5])
    compiled = ppl.model(src).compile({"T": 6, "y": y})
    b = np.array([0.2, -0.6])
    mean = b[0] * y[:-2] + b[1] * y[1:-1]
    expected = stats.norm(0, 1).logpdf(b).sum() + stats.norm(mean, 1).logpdf(y[2:]).sum()
    assert float(compiled.log_density(jnp.asarray(b))) == pytest.approx(expected, rel=1e-10)


def test_window_whose_length_moves_is_an_error():
    message = _error("""
data T: int
data y: real[T]
y[t] ~ normal(sum(y[1:t - 1]), 1) for t in 2:T
""", {"T": 4, "y": [1.0, 2.0, 3.0, 4.0]})
    assert "the length of this slice changes with t" in message
    assert "m.ppl:4:21" in message


def test_conditional_needs_a_scalar_condition():
    message = _error("""
data N: int
data x: vector[N]
y = if x > 0 then 1 else 2
""")
    assert "the condition of 'if' must be a single integer" in message


def test_ordered_and_simplex_types_use_their_bijections():
    src = """
data K: int
mu: ordered[K] ~ normal(0, 1)
w: simplex[K] ~ dirichlet([1, 2, 3])
"""
    compiled = ppl.model(src).compile({"K": 3})
    assert compiled.dimension == 3 + 2  # a simplex of 3 has 2 free coordinates
    values = compiled.constrain(jnp.array([0.3, -1.0, 2.0, 0.5, -0.5]))
    assert np.all(np.diff(np.asarray(values["mu"])) > 0)
    assert float(jnp.sum(values["w"])) == pytest.approx(1.0)


def test_density_functions_match_scipy():
    src = """
data N: int
data y: vector[N]
data k: int[N]
m ~ normal(0, 1)
target += normal_lpdf(y, m, 2) + poisson_lpmf(k, exp(m))
"""
    y, k = np.array([0.5, -1.0]), np.array([0, 3])
    compiled = ppl.model(src).compile({"N": 2, "y": y, "k": k})
    m = 0.25
    expected = (stats.norm(0, 1).logpdf(m) + stats.norm(m, 2).logpdf(y).sum()
                + stats.poisson(np.exp(m)).logpmf(k).sum())
    assert float(compiled.log_density(jnp.array([m]))) == pytest.approx(expected, rel=1e-10)


def test_log_mix_is_a_stable_mixture():
    src = """
theta ~ beta(2, 2)
target += log_mix(theta, normal_lpdf(3, 0, 1), normal_lpdf(3, 5, 1))
"""
    compiled = ppl.model(src).compile({})
    theta = 0.3
    u = jnp.array([np.log(theta / (1 - theta))])
    mix = np.log(theta * stats.norm(0, 1).pdf(3) + (1 - theta) * stats.norm(5, 1).pdf(3))
    jac = np.log(theta * (1 - theta))
    expected = stats.beta(2, 2).logpdf(theta) + jac + mix
    assert float(compiled.log_density(u)) == pytest.approx(expected, rel=1e-10)


def test_multi_normal_cholesky_matches_scipy():
    src = """
data S: matrix[2, 2]
x: vector[2] ~ multi_normal_cholesky([0, 1], cholesky(S))
"""
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    compiled = ppl.model(src).compile({"S": cov})
    x = np.array([0.4, -0.2])
    expected = stats.multivariate_normal([0, 1], cov).logpdf(x)
    assert float(compiled.log_density(jnp.asarray(x))) == pytest.approx(expected, rel=1e-12)


def test_triangular_solve_and_appends():
    src = """
data L: matrix[2, 2]
data b: vector[2]
x = mdivide_left_tri_low(L, b)
v = append_row(b, x)
M = append_col(L, L)
z ~ normal(sum(v) + sum(M), 1)
"""
    compiled = ppl.model(src).compile({"L": [[2.0, 0.0], [1.0, 1.0]], "b": [2.0, 3.0]})
    assert np.allclose(compiled.data["x"], [1.0, 2.0])
    assert np.allclose(compiled.data["v"], [2.0, 3.0, 1.0, 2.0])
    assert compiled.data["M"].shape == (2, 4)


def test_append_with_mismatched_sizes_is_an_error():
    message = _error("""
data A: matrix[2, 3]
data B: matrix[3, 3]
C = append_col(A, B)
""", {"A": np.zeros((2, 3)), "B": np.zeros((3, 3))})
    assert "append_col() cannot join matrix[2, 3] and matrix[3, 3]" in message


def test_user_function_and_ode_solve_match_the_closed_form():
    src = """
data T: int
data ts: real[T]
function decay(t: real, z: vector[1], k: vector[1]): vector[1] = -k .* z
k: vector[1] ~ lognormal(0, 1)
z = ode_solve(decay, [2.0], 0, ts, k, rtol = 1e-9, atol = 1e-9)
"""
    ts = np.array([0.5, 1.0, 2.0])
    compiled = ppl.model(src).compile({"T": 3, "ts": ts})
    values = compiled.generated(jnp.array([np.log(0.7)]))
    assert np.allclose(np.asarray(values["z"])[:, 0], 2.0 * np.exp(-0.7 * ts), rtol=1e-6)
    grad = jax.grad(lambda u: compiled.generated(u)["z"].sum())(jnp.array([np.log(0.7)]))
    expected = np.sum(2.0 * np.exp(-0.7 * ts) * (-ts) * 0.7)  # d/du with k = exp(u)
    assert float(grad[0]) == pytest.approx(expected, rel=1e-5)


def test_ode_right_hand_side_with_the_wrong_signature_is_an_error():
    message = _error("""
function f(z: vector[2], k: real): vector[2] = z
k ~ normal(0, 1)
z = ode_solve(f, [1, 2], 0, [1, 2], k)
""")
    assert ("the right-hand side f() takes 2 arguments, so ode_solve must pass it 0 extra "
            "argument(s) after ts, not 1") in message


def test_ode_extra_arguments_carry_data_and_parameters():
    """Stan's variadic form: f(t, z, k, D) with a parameter k and a data matrix D, no packing of
    data into the parameter vector."""
    src = """
data T: int
data ts: real[T]
data D: matrix[2, 2]
function linear(t: real, z: vector[2], k: real, D: matrix[2, 2]): vector[2] = k * (D * z)
k ~ lognormal(0, 1)
z = ode_solve(linear, [1.0, 0.5], 0, ts, k, D, rtol = 1e-10, atol = 1e-10)
"""
    from scipy.linalg import expm

    ts = np.array([0.3, 1.0, 2.5])
    D = np.array([[-1.0, 0.4], [0.2, -0.7]])
    compiled = ppl.model(src).compile({"T": 3, "ts": ts, "D": D})
    z = np.asarray(compiled.generated(jnp.array([np.log(0.8)]))["z"])
    expected = np.stack([expm(0.8 * D * t) @ np.array([1.0, 0.5]) for t in ts])
    assert np.allclose(z, expected, rtol=1e-7, atol=1e-9)


def test_ode_with_no_extra_arguments():
    src = """
data ts: real[2]
function grow(t: real, z: vector[1]): vector[1] = 0.5 * z
z0 ~ lognormal(0, 1)
z = ode_solve(grow, [z0], 0, ts, rtol = 1e-10, atol = 1e-10)
"""
    z = ppl.model(src).compile({"ts": [1.0, 2.0]}).generated(jnp.array([np.log(3.0)]))["z"]
    assert np.allclose(np.asarray(z)[:, 0], 3.0 * np.exp(0.5 * np.array([1.0, 2.0])),
                       rtol=1e-8)


STIFF = """
data ts: real[3]
data A: matrix[2, 2]
function linear(t: real, z: vector[2], A: matrix[2, 2]): vector[2] = A * z
x ~ lognormal(0, 1)
z = SOLVER(linear, [x, 1.0], 0, ts, A, rtol = 1e-8, atol = 1e-8, max_steps = 300)
"""


def test_the_stiff_solver_solves_a_stiff_system_the_explicit_one_cannot():
    """Eigenvalues -1 and -10000: the explicit method's stability limit needs thousands of steps
    (more than max_steps, so NaN), the implicit one a few dozen."""
    from scipy.linalg import expm

    ts = np.array([0.5, 1.0, 2.0])
    A = np.array([[-1.0, 0.0], [9999.0, -10000.0]])
    data = {"ts": ts, "A": A}
    stiff = ppl.model(STIFF.replace("SOLVER", "ode_solve_stiff")).compile(data)
    z = np.asarray(stiff.generated(jnp.array([0.0]))["z"])  # x = 1
    expected = np.stack([expm(A * t) @ np.ones(2) for t in ts])
    assert np.allclose(z, expected, rtol=1e-6, atol=1e-8)
    explicit = ppl.model(STIFF.replace("SOLVER", "ode_solve")).compile(data)
    assert np.all(np.isnan(np.asarray(explicit.generated(jnp.array([0.0]))["z"])))


@pytest.mark.parametrize("call, expected", [
    ("ode_solve(f, [1.0], 0, ts, k, D)",
     "argument k of f() is real, but ode_solve passes vector[1]"),
    ("ode_solve(f, [1.0], 0, ts, 1.0, D, rtol = s)",
     "the option rtol of ode_solve must be a positive number written in the model"),
    ("ode_solve_stiff(f, [1.0], 0, ts, 1.0, D, tol = 1e-6)",
     "ode_solve_stiff has no option 'tol'"),
    ("ode_solve(f, [1.0], 0)", "ode_solve takes at least 4 arguments"),
])
def test_ode_misuse_is_a_located_error(call, expected):
    message = _error(f"""
data ts: real[2]
data D: vector[1]
function f(t: real, z: vector[1], k: real, D: vector[1]): vector[1] = -k * (D .* z)
s ~ lognormal(0, 1)
k: vector[1] ~ lognormal(0, 1)
z = {call}
""")
    assert expected in message


def test_function_body_may_use_only_its_arguments():
    message = _error("""
data a: real
function f(x: real): real = x + a
y ~ normal(f(1), 1)
""")
    assert "'a' is not an argument of f()" in message


NAMED = """
data county: dim
data obs: dim
data county_of: int[obs] in [1, county]
data x: vector[obs]
data y: vector[obs]
alpha: vector[county] ~ normal(0, 5)
sigma ~ half_normal(1)
y ~ normal(alpha[county_of] + x, sigma)
"""
NAMED_DATA = {"county": ["Aitkin", "Anoka"], "obs": 4, "county_of": [1, 2, 2, 1],
              "x": [0.1, 0.2, 0.3, 0.4], "y": [1.0, 2.0, 1.5, 0.5]}


def test_named_dimensions_become_dims_and_coords_of_the_results():
    fit = ppl.model(NAMED).sample(NAMED_DATA, chains=1, draws=50, warmup=50)
    alpha = fit["posterior"]["alpha"]
    assert alpha.dims == ("chain", "draw", "county")
    assert list(alpha["county"].values) == ["Aitkin", "Anoka"]
    assert alpha.sel(county="Aitkin").shape == (1, 50)
    assert fit["observed_data"]["y"].dims == ("obs",)


def test_values_over_different_dimensions_cannot_be_combined():
    src = NAMED.replace("alpha[county_of] + x", "alpha + x")
    data = {**NAMED_DATA, "obs": 2, "county_of": [1, 2], "x": [0.1, 0.2], "y": [1.0, 2.0]}
    message = _error(src, data)  # the sizes agree (2 and 2); the dimensions do not
    assert "addition combines values over different dimensions: the left is over 'county' " \
        "and the right over 'obs'" in message


def test_dimension_labels_must_be_distinct():
    message = _error(NAMED, {**NAMED_DATA, "county": ["A", "A"]})
    assert "data 'county' is a dimension: give a list of distinct labels" in message


def test_replicates_of_a_statement_over_part_of_an_array_keep_the_conditioning_values():
    model = ppl.model("""
data T: int
data y: real[T]
mu ~ normal(0, 1)
y[t] ~ normal(mu + 0.5 * y[t - 1], 1) for t in 2:T
""")
    y = np.array([0.1, 0.5, -0.2, 1.0, 0.3])
    fit = model.sample({"T": 5, "y": y}, chains=1, draws=30, warmup=30, posterior_predictive=True)
    replicates = np.asarray(fit["posterior_predictive"]["y"])
    assert replicates.shape == (1, 30, 5)
    assert np.all(replicates[..., 0] == y[0])  # y[1] is conditioned on, not simulated
    assert np.std(replicates[..., 1:]) > 0.5


def test_integer_solver_options_stay_concrete_under_jit():
    compiled = ppl.model("""
data N: int
data ts: real[N]
function decay(t: real, z: vector[1], k: vector[1]): vector[1] = -k .* z
k: vector[1] ~ lognormal(0, 1)
z = ode_solve(decay, [2.0], 0, ts, k, max_steps = 200)
""").compile({"N": 3, "ts": [1.0, 2.0, 3.0]})
    u = compiled.unconstrain({"k": np.array([0.5])})
    z = jax.jit(compiled.generated)(u)["z"]
    np.testing.assert_allclose(np.ravel(z), 2 * np.exp(-0.5 * np.array([1.0, 2.0, 3.0])),
                               rtol=1e-5)


@pytest.mark.parametrize("declaration", ["k: positive_ordered[3] ~ lognormal(0, 1)",
                                         "k: ordered[3] ~ normal([0, 0.5, 1], 1)"])
def test_prior_draws_of_ordered_types_are_ordered(declaration):
    draws = ppl.model(declaration).sample_prior_predictive({}, draws=500, seed=3)
    k = np.asarray(draws["prior"]["k"])[0]
    assert not np.isnan(k).any() and np.all(np.diff(k, axis=1) > 0)


def test_prior_draws_of_a_constrained_type_outside_its_prior_support_are_nan():
    draws = ppl.model("w: simplex[3] ~ normal(0, 1)").sample_prior_predictive({}, draws=20)
    assert np.isnan(np.asarray(draws["prior"]["w"])).all()


def test_the_power_operator_is_real_like_pow():
    """``^`` computes in reals as ``pow`` does: 2 ^ -1 is 0.5 (JAX raises for an integer to a
    negative integer power), k ^ 2 of an int k is a real, and its gradient at 0 ^ 2 is 0."""
    compiled = ppl.model("data k: int\nx ~ normal(0, 1)\nh = 2 ^ -1 + k ^ 2 + x ^ 2\n").compile(
        {"k": 3})
    values = compiled.generated(jnp.array([0.0]))
    assert float(values["h"]) == 9.5 and jnp.issubdtype(values["h"].dtype, jnp.floating)
    grad = jax.grad(lambda u: compiled.generated(u)["h"])(jnp.array([0.0]))
    assert float(grad[0]) == 0.0
