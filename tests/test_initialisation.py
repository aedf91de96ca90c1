"""Starting points for NUTS and HMC: ``init="laplace"`` (draws of the Laplace approximation at
modes found by L-BFGS from several uniform(-2, 2) starts) and the default ``init="auto"`` (the
uniform points when every climb reaches the same mode, else the Laplace draws)."""

import jax
import numpy as np
import pytest

import ppl
from ppl.backends.base import finite_initial_points, initial_points

# Two modes: +3 holds 99.9 % of the mass, -3 the rest; a uniform(-2, 2) start below about 0
# climbs to the minor one.
TWO_MODES = """
param x: real
target += log_mix(0.999, normal_lpdf(x, 3, 0.5), normal_lpdf(x, -3, 0.5))
"""
NORMAL = """
data y: vector[3]
mu ~ normal(0, 10)
y ~ normal(mu, 1)
"""


def test_every_chain_starts_in_the_mode_with_the_mass():
    compiled = ppl.model(TWO_MODES).compile({})
    key = jax.random.PRNGKey(0)
    uniform = np.asarray(finite_initial_points(compiled, key, 4))
    assert np.any(uniform < -0.5)  # Stan's starts: one of them climbs to the minor mode
    for init in ("auto", "laplace"):
        points = np.asarray(initial_points(compiled, key, 4, init=init))
        assert points.shape == (4, 1)
        assert np.all(np.abs(points[:, 0] - 3) < 2.5)  # draws of N(3, 0.5^2)
        assert len(np.unique(points[:, 0])) == 4       # one draw per chain


def test_auto_keeps_the_uniform_points_when_every_climb_finds_the_same_mode():
    compiled = ppl.model(NORMAL).compile({"y": [0.5, 1.0, 1.5]})
    key = jax.random.PRNGKey(3)
    uniform = np.asarray(initial_points(compiled, key, 4, init="uniform"))
    assert np.array_equal(np.asarray(initial_points(compiled, key, 4, init="auto")), uniform)
    laplace = np.asarray(initial_points(compiled, key, 4, init="laplace"))
    assert not np.array_equal(laplace, uniform)
    assert np.all(np.abs(laplace - 1.0) < 4 * 3**-0.5)  # draws of N(1, 1/3)


def test_without_a_mode_the_uniform_points_are_used():
    # A funnel with no data: the log-density grows without bound as tau -> 0.
    compiled = ppl.model("tau ~ half_cauchy(5)\ntheta: vector[8] ~ normal(0, tau)\n").compile({})
    key = jax.random.PRNGKey(0)
    points = np.asarray(initial_points(compiled, key, 4, init="laplace"))
    assert np.array_equal(points, np.asarray(initial_points(compiled, key, 4, init="uniform")))


def test_laplace_points_through_an_ode_solve():
    # jax.hessian cannot differentiate forward through the solver; the Hessian is taken by
    # central differences of the gradient.
    src = """
data N: int
data ts: real[N]
data y: real[N]
function decay(t: real, z: vector[1], k: real): vector[1] = [-k * z[1]]
k ~ lognormal(0, 1)
z = ode_solve(decay, [2.0], 0, ts, k, rtol = 1e-8, atol = 1e-8)
y[n] ~ normal(z[n, 1], 0.05) for n in 1:N
"""
    ts = np.linspace(0.5, 3, 6)
    compiled = ppl.model(src).compile({"N": 6, "ts": ts, "y": 2 * np.exp(-0.7 * ts)})
    points = initial_points(compiled, jax.random.PRNGKey(1), 2, init="laplace")
    assert np.all(np.abs(np.exp(np.asarray(points)[:, 0]) - 0.7) < 0.1)


def test_nuts_records_the_default_initialisation():
    fit = ppl.model(TWO_MODES).sample({}, chains=2, draws=100, warmup=100, seed=2)
    assert fit.attrs["init"] == "auto"
    assert float(fit["posterior"]["x"].min()) > 0  # no chain starts in (or visits) x = -3


ODE_FREE_MIXTURE_FREE = """
data y: vector[3]
mu ~ normal(0, 10)
tau ~ exponential(1)
theta: vector[3] ~ normal(0, 1)
y ~ normal(mu + tau * theta, 1)
"""


def test_auto_climbs_only_where_separated_modes_or_rough_regions_can_be(monkeypatch):
    """init="auto" runs the climbs for a model with a sum over alternatives (log_mix,
    log_sum_exp, a discrete latent summed out), a numerical solve or a periodic family, and
    starts a model without any of them at the uniform points straight away (issue 16: a cheap
    start where the posterior does not need the climbs)."""
    from ppl.backends import base

    climbed = []
    real = base.laplace_start

    def spy(model, *args, **kwargs):
        climbed.append(True)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(base, "laplace_start", spy)
    key = jax.random.PRNGKey(3)
    plain = ppl.model(ODE_FREE_MIXTURE_FREE).compile({"y": [0.5, 1.0, 1.5]})
    points = np.asarray(initial_points(plain, key, 4, init="auto"))
    assert climbed == []
    assert np.array_equal(points, np.asarray(initial_points(plain, key, 4, init="uniform")))
    assert not base.climbs_worthwhile(plain)
    for text, data in [(TWO_MODES, {}),
                       ("data y: vector[3]\nparam m: real\n"
                        "target += log_sum_exp(normal_lpdf(y, m, 1))\n", {"y": [1.0, 2, 3]}),
                       ("data y: real\nmu ~ von_mises(0, 1)\ny ~ von_mises(mu, 2)\n",
                        {"y": 0.5}),
                       ("data y: int[4]\nz ~ bernoulli(0.5)\np = z * 0.6 + 0.2\n"
                        "y ~ bernoulli(p)\nq ~ beta(2, 2)\n", {"y": [0, 1, 1, 1]})]:
        compiled = ppl.model(text).compile(data)
        assert base.climbs_worthwhile(compiled), text
        climbed.clear()
        initial_points(compiled, key, 2, init="auto")
        assert climbed == [True], text


# The gradient is NaN where exp(-1000 l^2) underflows (l above about 0.86): many uniform(-2, 2)
# starts on the log scale are unusable.
NAN_GRADIENT = """
l ~ lognormal(0, 1)
target += sqrt(exp(-1000 * square(l)))
"""


def test_uniform_starts_are_checked_by_the_chains_init_program_not_a_program_of_their_own(
        monkeypatch):
    """NUTS's init program evaluates the log density and gradient at the starting points, so
    the uniform starts are checked there: no value-and-gradient program is compiled for them
    (diamonds, cold: 0.6 s), and one is only where a start is not finite."""
    from ppl.backends import base

    checked = []
    real = base.usable_start
    monkeypatch.setattr(base, "usable_start", lambda *a: checked.append(1) or real(*a))
    plain = ppl.model(NORMAL).sample({"y": [0.5, 1.0, 1.5]}, chains=2, draws=20, warmup=20)
    assert checked == [] and plain.attrs["init"] == "auto"
    ppl.model(NAN_GRADIENT).sample({}, chains=4, draws=20, warmup=20, seed=1)
    assert len(checked) >= 4


def test_a_start_found_unusable_by_the_init_program_is_replaced_as_the_checked_search_would():
    """Where a candidate's gradient is NaN the chains start at the points of the checked search
    (:func:`finite_initial_points`, from the same key): the draws are those of a run handed
    those points."""
    from ppl.backends.base import unchecked_initial_points
    from ppl.backends.hmc_chains import KernelConfig, run_chains
    from ppl.jax_settings import ppl_settings

    compiled = ppl.model(NAN_GRADIENT).compile({})
    key = jax.random.PRNGKey(7)
    with ppl_settings():
        unchecked = unchecked_initial_points(compiled, key, 4)
        grads = jax.vmap(jax.grad(compiled.log_density))(jax.numpy.asarray(unchecked))
        assert not np.all(np.isfinite(np.asarray(grads)))  # the case under test
        runs = [run_chains(compiled.log_density, KernelConfig(), start, jax.random.PRNGKey(1),
                           warmup=30, draws=30, method="vectorized", checked_points=checked)
                for start, checked in (
                    (unchecked, lambda: finite_initial_points(compiled, key, 4)),
                    (finite_initial_points(compiled, key, 4), None))]
    np.testing.assert_array_equal(runs[0].draws["z"], runs[1].draws["z"])


def test_the_climbs_compile_no_program_but_the_value_and_gradient_one(monkeypatch):
    """The climbs run on the host, each step a call of the model's value-and-gradient program,
    which also checks their starts, makes the Hessians' probes and checks the Laplace draws:
    no program of their own (their XLA programs took 1.2-1.9 s to trace and compile on
    low_dim_gauss_mix and hmm_example, cold)."""
    from ppl.codegen import stored

    compiled = ppl.model(TWO_MODES).compile({})
    names = []
    real = stored.StoredProgram.__init__

    def spy(self, function, identity, **kwargs):
        names.append(identity[2])
        real(self, function, identity, **kwargs)

    monkeypatch.setattr(stored.StoredProgram, "__init__", spy)
    points = np.asarray(initial_points(compiled, jax.random.PRNGKey(0), 4, init="laplace"))
    assert names == ["value_and_grad"]
    assert np.all(np.abs(points[:, 0] - 3) < 2.5)  # draws of N(3, 0.5^2)


# (the suite runs with one device: parallel chains are tested in tests/test_host_devices.py)
@pytest.mark.parametrize("method", ["vectorized", "sequential"])
def test_the_climbs_starts_reach_the_init_program_with_their_values(monkeypatch, method):
    """The climbs' starts were evaluated by the value-and-gradient program already: the chains'
    init program takes their potential energies and gradients (NumPyro's ``ParamInfo``) instead
    of evaluating the model again, so it compiles without the model's gradient (hmm_example,
    cold: 0.3 against 1.0 s). Uniform starts are checked by the init program (test above), so
    they reach it bare."""
    from numpyro.infer.util import ParamInfo

    from ppl.backends.chain_layout import ChainLayout

    starts = []
    real = ChainLayout.init
    monkeypatch.setattr(ChainLayout, "init",
                        lambda self, points, *a, **k: starts.append(points) or
                        real(self, points, *a, **k))
    model = ppl.model(TWO_MODES)
    fit = model.sample({}, chains=2, draws=20, warmup=20, chain_method=method, seed=2)
    assert fit.attrs["chain_method"] == method
    [given] = starts
    assert isinstance(given, ParamInfo)
    compiled = model.compile({})
    for z, energy, gradient in zip(*(np.asarray(x) for x in given), strict=True):
        value, grad = jax.value_and_grad(compiled.log_density)(jax.numpy.asarray(z))
        np.testing.assert_allclose(energy, -float(value), rtol=1e-12)
        np.testing.assert_allclose(gradient, -np.asarray(grad), rtol=1e-12, atol=1e-300)
    starts.clear()
    ppl.model(NORMAL).sample({"y": [0.5, 1.0, 1.5]}, chains=2, draws=20, warmup=20)
    [bare] = starts
    assert not isinstance(bare, ParamInfo) and np.shape(bare) == (2, 1)


def test_a_given_start_whose_energy_is_nan_or_minus_infinity_counts_as_infinite():
    """As :func:`guarded_potential` makes a NaN or ``-inf`` energy ``+inf`` (a divergence)."""
    from ppl.backends.hmc_chains import given_start_values

    points = np.zeros((3, 2))
    given = given_start_values(points, [np.nan, -np.inf, 1.5], np.ones((3, 2)))
    np.testing.assert_array_equal(np.asarray(given.potential_energy), [np.inf, np.inf, 1.5])
    np.testing.assert_array_equal(np.asarray(given.z_grad), np.ones((3, 2)))
