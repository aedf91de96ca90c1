"""The gpss backend (Gibbsian polar slice sampling): conjugate posteriors within Monte Carlo
standard error, a heavy-tailed target where it beats a tuned random-walk Metropolis per
log-density evaluation, the DataTree layout, reproducibility, data as program arguments, and
option validation."""

from __future__ import annotations

import logging
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppl
from ppl.backends.gpss import OPTIONS, TARGET_STEPS_OUT, TWO_PI, gpss_transition
from ppl.backends.registry import available_backends
from ppl.errors import SamplingError
from ppl.jax_settings import ppl_settings

# |estimate - truth| below this many Monte Carlo standard errors (a 4.5-sigma band: with the
# handful of comparisons here a false alarm is below 1e-4 at a fixed seed anyway).
MCSE_TOLERANCE = 4.5

# Three normal means far from the origin and on different scales (the standardisation has to
# find both), each with known-sd observations: the posterior is an independent normal per mean.
NORMAL3 = """
data N: int
data y1: vector[N]
data y2: vector[N]
data y3: vector[N]
mu: vector[3] ~ normal([1, -30, 100], [2, 0.5, 20])
y1 ~ normal(mu[1], 1.5)
y2 ~ normal(mu[2], 0.2)
y3 ~ normal(mu[3], 8)
"""
PRIOR_MEAN, PRIOR_SD, NOISE_SD = np.array([1, -30, 100.0]), np.array([2, 0.5, 20.0]), \
    np.array([1.5, 0.2, 8.0])

BETA_BINOMIAL = """
data G: int >= 1
data n: int[G] >= 0
data k: int[G] >= 0
theta ~ beta(2, 3)
k ~ binomial(n, theta)
"""

STUDENT = """
data D: int
data m: vector[D]
data S: matrix[D, D]
x: vector[D] ~ multi_student_t(3, m, S)
"""


def _normal3_data(seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    truth = np.array([2.0, -29.7, 90.0])
    n = 12
    return {"N": n, **{f"y{i + 1}": rng.normal(truth[i], NOISE_SD[i], n) for i in range(3)}}


def _normal3_posterior(data: dict) -> tuple[np.ndarray, np.ndarray]:
    sums = np.array([np.sum(data[f"y{i + 1}"]) for i in range(3)])
    precision = 1 / PRIOR_SD**2 + data["N"] / NOISE_SD**2
    return (PRIOR_MEAN / PRIOR_SD**2 + sums / NOISE_SD**2) / precision, precision**-0.5


def _assert_moments(draws: np.ndarray, mean: float, sd: float) -> None:
    """Mean and sd of (chains, draws) ``draws`` against the truth, within MCSE: ArviZ's MCSE
    of the mean, and ``sd / sqrt(2 ess)`` for the sd (normal-theory, with the mean's ESS)."""
    ess = float(az.ess(draws, method="mean"))
    mcse = float(az.mcse(draws, method="mean"))
    assert ess > 300, ess
    assert abs(draws.mean() - mean) < MCSE_TOLERANCE * mcse, (draws.mean(), mean, mcse)
    assert abs(draws.std() - sd) < MCSE_TOLERANCE * sd / np.sqrt(2 * ess), (draws.std(), sd)


@pytest.fixture(scope="module")
def normal3_fit():
    data = _normal3_data()
    return data, ppl.model(NORMAL3).sample(data, backend="gpss", chains=4, draws=1000,
                                           warmup=600, seed=2)


def test_gpss_recovers_three_normal_means_far_from_the_origin(normal3_fit):
    data, fit = normal3_fit
    mean, sd = _normal3_posterior(data)
    mu = np.asarray(fit.posterior["mu"])
    for i in range(3):
        _assert_moments(mu[..., i], mean[i], sd[i])
    # The standardisation found the posterior's location and scale.
    assert np.allclose(fit.attrs["location"], mean, atol=4 * sd)
    assert np.allclose(fit.attrs["scale"], sd, rtol=0.5)


def test_gpss_recovers_the_beta_binomial_posterior():
    n, k = np.array([10, 12, 8]), np.array([3, 5, 2])
    a, b = 2 + k.sum(), 3 + (n - k).sum()
    fit = ppl.model(BETA_BINOMIAL).sample({"G": 3, "n": n, "k": k}, backend="gpss", chains=4,
                                          draws=1000, warmup=500, seed=5)
    theta = np.asarray(fit.posterior["theta"])
    _assert_moments(theta, a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


def test_gpss_datatree_layout_matches_nuts(normal3_fit):
    data, fit = normal3_fit
    with warnings.catch_warnings():  # a short NUTS run, for its layout only
        warnings.simplefilter("ignore")
        nuts = ppl.model(NORMAL3).sample(data, chains=2, draws=20, warmup=20, seed=0)
    # gpss cannot be resumed, so it has no sampler_state group
    assert set(fit.children) == set(nuts.children) - {"sampler_state"}
    assert fit.posterior["mu"].dims == nuts.posterior["mu"].dims
    assert fit.posterior["mu"].shape == (4, 1000, 3)
    stats = fit.sample_stats
    assert {"lp", "n_evals", "direction_proposals"} <= set(stats.data_vars)
    assert stats["lp"].shape == (4, 1000)
    # Every draw needs at least one direction and two radius evaluations (the window's ends
    # may be skipped at r = 0 only) and the loops are bounded.
    n_evals = np.asarray(stats["n_evals"])
    max_steps = {o.name: o.default for o in OPTIONS}["max_steps"]
    assert n_evals.min() >= 2 and n_evals.max() <= 4 * max_steps
    # lp is the log density at the draw.
    model = ppl.model(NORMAL3).compile(data)
    u = np.stack([np.asarray(fit.posterior["mu"])[0, j] for j in (0, 500)])
    unconstrained = np.array([np.asarray(model.unconstrain({"mu": v})) for v in u])
    expected = [float(model.jitted_log_density(p)) for p in unconstrained]
    assert np.allclose(np.asarray(stats["lp"])[0, [0, 500]], expected)
    assert fit.attrs["backend"] == "gpss"
    assert 0 < fit.attrs["angle"] <= 2 * np.pi and fit.attrs["radius_window"] > 0


def test_gpss_same_seed_same_draws_and_new_data_reuses_the_programs():
    model = ppl.model(BETA_BINOMIAL)
    data = {"G": 3, "n": np.array([10, 12, 8]), "k": np.array([3, 5, 2])}
    run = dict(backend="gpss", chains=2, draws=50, warmup=50, seed=4)
    first = model.sample(data, **run)
    again = model.sample(data, **run)
    other_seed = model.sample(data, **{**run, "seed": 5})
    np.testing.assert_array_equal(first.posterior["theta"], again.posterior["theta"])
    assert not np.array_equal(first.posterior["theta"], other_seed.posterior["theta"])
    compiled = []

    class Log(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Finished XLA compilation"):
                compiled.append(record.getMessage())

    handler, logger = Log(logging.DEBUG), logging.getLogger("jax")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.sample({**data, "k": np.array([6, 1, 4])}, **run)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert not [m for m in compiled if "advance" in m], compiled


def _rwm_ess_per_evaluation(log_density, dimension: int, scale: float, seed: int,
                            chains: int = 4, draws: int = 4000) -> tuple[float, float]:
    """Random-walk Metropolis with proposal sd ``scale`` (one evaluation per draw), from
    draws of the target: its smallest bulk ESS per evaluation and acceptance rate."""

    def chain(key, x0):
        def step(carry, k):
            x, lp = carry
            k1, k2 = jax.random.split(k)
            y = x + scale * jax.random.normal(k1, x.shape)
            lq = log_density(y)
            accept = jnp.log(jax.random.uniform(k2)) < lq - lp
            x, lp = jnp.where(accept, y, x), jnp.where(accept, lq, lp)
            return (x, lp), (x, accept)

        _, (xs, accepted) = jax.lax.scan(step, (x0, log_density(x0)),
                                         jax.random.split(key, draws))
        return xs, accepted

    key = jax.random.PRNGKey(seed)
    starts = jax.random.t(jax.random.fold_in(key, 1), 3.0, (chains, dimension))
    xs, accepted = jax.jit(jax.vmap(chain))(jax.random.split(key, chains), starts)
    ess = np.asarray(az.ess(np.asarray(xs), method="bulk"))
    return float(ess.min()) / (chains * draws), float(np.mean(accepted))


def test_gpss_beats_tuned_random_walk_metropolis_on_a_heavy_tailed_target():
    """Multivariate Student-t with 3 degrees of freedom in 8 dimensions: GPSS's smallest bulk
    ESS per log-density evaluation is several times a random walk's whose proposal scale is
    the best of a grid around the optimal-scaling value 2.38 sd / sqrt(d) (acceptance about
    0.23 for a Gaussian)."""
    d = 8
    data = {"D": d, "m": np.zeros(d), "S": np.eye(d)}
    model = ppl.model(STUDENT)
    fit = model.sample(data, backend="gpss", chains=4, draws=1000, warmup=500, seed=1)
    x = np.asarray(fit.posterior["x"])
    gpss = float(np.min(np.asarray(az.ess(x, method="bulk")))) / float(
        np.sum(np.asarray(fit.sample_stats["n_evals"])))
    compiled = model.compile(data)
    with ppl_settings():
        sd = np.sqrt(3.0)  # the t(3) covariance is 3 I
        rwm = max(_rwm_ess_per_evaluation(compiled.log_density, d, factor * 2.38 * sd
                                          / np.sqrt(d), seed=0)[0]
                  for factor in (0.5, 1.0, 2.0))
    assert gpss > 2 * rwm, (gpss, rwm)
    # ... and the draws are right: the t(3) marginal's median absolute value is 0.765.
    assert np.median(np.abs(x)) == pytest.approx(0.7649, abs=0.05)


@pytest.mark.parametrize("options, message", [
    ({"angel": 1.0}, "gpss has no option 'angel'"),
    ({"angle": 7.0}, "angle must be a number or 'adapt' in (0, 6.28319] or 'adapt'"),
    ({"angle": "adapted"}, "did you mean 'adapt'?"),
    ({"radius_window": -1.0}, "radius_window must be a number > 0"),
    ({"max_steps": 2}, "max_steps must be an integer >= 5"),
    ({"standardise": "yes"}, "standardise must be true or false"),
    ({"init": "middle"}, "init must be one of"),
    ({"dense": "yes"}, "dense must be 'auto', true or false"),
])
def test_gpss_option_errors(options, message):
    with pytest.raises(SamplingError) as caught:
        ppl.model(BETA_BINOMIAL).sample({"G": 1, "n": [4], "k": [1]}, backend="gpss",
                                        chains=1, draws=5, warmup=5, **options)
    assert message in str(caught.value)


def test_gpss_fixed_angle_and_window_are_kept_and_listed():
    fit = ppl.model(BETA_BINOMIAL).sample({"G": 1, "n": [4], "k": [1]}, backend="gpss",
                                          chains=2, draws=20, warmup=20, seed=0, angle=1.0,
                                          radius_window=0.5, standardise=False)
    assert fit.attrs["angle"] == pytest.approx(1.0)
    assert fit.attrs["radius_window"] == pytest.approx(0.5)
    assert (fit.attrs["angle_adapted"], fit.attrs["standardise"]) == (0, 0)
    assert "gpss" in available_backends()
    assert "angle" in available_backends()["gpss"].description


def _steps_out_at(windows: list[float], sigma: float, d: int,
                  n: int = 4000) -> list[tuple[float, float]]:
    """For each radius window, the mean stepping-out steps of one GPSS transition on
    N(0, sigma^2 I_d) started from ``n`` exact draws (so the transitions are independent draws
    of the stationary statistic), and its Monte Carlo standard error."""
    with ppl_settings():
        key = jax.random.PRNGKey(7)
        z = sigma * jax.random.normal(key, (n, d))
        keys = jax.random.split(jax.random.fold_in(key, 1), n)

        def log_density(x):
            return -0.5 * jnp.sum(x**2) / sigma**2

        def steps(window, k, x):
            return gpss_transition(log_density, k, x, log_density(x), jnp.asarray(TWO_PI),
                                   window, 100)[2][2]

        counts = np.asarray(jax.jit(jax.vmap(jax.vmap(steps, (None, 0, 0)), (0, None, None)))(
            jnp.asarray(windows), keys, z))
    return [(float(c.mean()), float(c.std() / np.sqrt(n))) for c in counts]


def test_gpss_adapted_radius_window_reaches_its_target():
    """The warm-up adapts the radius window towards TARGET_STEPS_OUT stepping-out steps per
    draw (the paper fixes the window by hand; the adaptation is ppl's, see the module
    docstring). On N(0, 3^2 I_4), unstandardised, from a window of 1: the adapted window is
    within 25 % of the window that meets the target, i.e. a quarter smaller steps out more
    and a quarter larger steps out less than the target, each beyond 4.5 Monte Carlo
    standard errors of the exact-draw estimate."""
    sigma, d = 3.0, 4
    fit = _quiet("x: vector[4] ~ normal(0, 3)\n", {}, chains=8, draws=10, warmup=1000, seed=4,
                 standardise=False)
    window = fit.attrs["radius_window"]
    (smaller, smaller_mcse), (larger, larger_mcse) = _steps_out_at(
        [window / 1.25, window * 1.25], sigma, d)
    assert smaller - MCSE_TOLERANCE * smaller_mcse > TARGET_STEPS_OUT, (window, smaller)
    assert larger + MCSE_TOLERANCE * larger_mcse < TARGET_STEPS_OUT, (window, larger)


# -- each option's effect on the run (tests/test_option_effects.py lists these) -------------

CORRELATED = "x: vector[2] ~ multi_normal([0, 0], [[1, 0.99], [0.99, 1]])\n"


_MODELS: dict[str, ppl.Model] = {}


def _quiet(source: str, data: dict, **kwargs):
    """A short gpss fit, uniform starts unless told (the climbs of init="auto" are not what
    these tests are about), one model object per source so its programs are reused."""
    model = _MODELS.setdefault(source, ppl.model(source))
    with warnings.catch_warnings():  # short runs: their ESS warnings are not the point
        warnings.simplefilter("ignore")
        return model.sample(data, backend="gpss", **{"init": "uniform", **kwargs})


def test_gpss_angle_sets_the_direction_bracket():
    """On a correlated Gaussian (not standardised) the density varies along the great circle,
    so the whole-circle bracket is often shrunk; a bracket of 0.01 rad is accepted at once
    (and moves little); 'adapt' narrows it from the whole circle."""
    run = dict(chains=2, draws=200, warmup=200, seed=3, standardise=False)
    whole = _quiet(CORRELATED, {}, **run)
    narrow = _quiet(CORRELATED, {}, angle=0.01, **run)
    adapted = _quiet(CORRELATED, {}, angle="adapt", **run)
    proposals = {name: np.asarray(fit.sample_stats["direction_proposals"]).mean()
                 for name, fit in [("whole", whole), ("narrow", narrow)]}
    assert proposals["whole"] > 1.3 and proposals["narrow"] < 1.05
    step = {name: np.abs(np.diff(np.asarray(fit.posterior["x"]), axis=1)).mean()
            for name, fit in [("whole", whole), ("narrow", narrow)]}
    assert step["narrow"] < 0.5 * step["whole"]
    assert adapted.attrs["angle"] < 2 * np.pi and adapted.attrs["angle_adapted"] == 1


def test_gpss_radius_window_and_max_steps_bound_the_loops():
    """A radius window of 1e-3 (not adapted) needs many stepping-out steps per draw, which
    max_steps caps on each side (the paper steps out without limit; the cap is a safety bound,
    counted with the exhausted loops)."""
    run = dict(chains=2, draws=100, warmup=50, seed=1, standardise=False)
    small = _quiet(CORRELATED, {}, radius_window=1e-3, **run)
    capped = _quiet(CORRELATED, {}, radius_window=1e-3, max_steps=8, **run)
    default = _quiet(CORRELATED, {}, **run)
    evals = {name: np.asarray(fit.sample_stats["n_evals"])
             for name, fit in [("small", small), ("capped", capped), ("default", default)]}
    assert evals["small"].mean() > 100 > 15 > evals["default"].mean()
    # direction (<= 8) + stepping out (<= 8 steps a side + 2 ends) + shrinkage (<= 8)
    assert evals["capped"].max() <= 8 + 18 + 8
    assert capped.attrs["exhausted_loops"] > small.attrs["exhausted_loops"]
    assert small.attrs["radius_window"] == pytest.approx(1e-3)


def test_gpss_standardise_and_dense_decorrelate():
    """Without standardisation the chains cross the 0.99-correlated Gaussian slowly; the dense
    standardisation makes it a standard normal, the diagonal one does not decorrelate it."""
    run = dict(chains=2, draws=400, warmup=400, seed=2)
    fits = {"raw": _quiet(CORRELATED, {}, standardise=False, **run),
            "diagonal": _quiet(CORRELATED, {}, dense=False, **run),
            "dense": _quiet(CORRELATED, {}, dense=True, **run)}
    ess = {name: float(np.min(np.asarray(az.ess(np.asarray(fit.posterior["x"]),
                                                  method="bulk"))))
           for name, fit in fits.items()}
    assert ess["dense"] > 2 * max(ess["raw"], ess["diagonal"]), ess
    assert fits["dense"].attrs["dense"] == 1 and fits["diagonal"].attrs["dense"] == 0


def test_gpss_init_sets_where_the_chains_start():
    """Without warm-up the first draw is one move from the start: from the Laplace draws at
    the mode of a narrow posterior it is near the mode; without a proper prior there is no
    prior to start from."""
    source = "param x: real\ntarget += normal_lpdf(x, 30, 0.1)\n"
    run = dict(chains=2, draws=1, warmup=0, seed=0, standardise=False)
    laplace = _quiet(source, {}, init="laplace", **run)
    assert np.all(np.abs(np.asarray(laplace.posterior["x"]) - 30) < 1)
    with pytest.raises(SamplingError):
        _quiet(source, {}, init="prior", **run)


def test_a_stuck_gpss_chain_is_a_warning():
    """GPSS's draws are Markov chains: a chain whose position never changes is reported as
    for NUTS (a slice sampler moves at every draw unless its loops give up)."""
    import xarray as xr

    from ppl.summary import sampler_warnings

    fit = _quiet("x ~ normal(0, 1)\n", {}, chains=2, draws=100, warmup=100, seed=0)
    stuck = fit.copy()
    values = np.asarray(stuck.posterior["x"]).copy()
    values[1] = values[1, 0]
    stuck["posterior"] = xr.DataTree(
        fit.posterior.to_dataset().assign(x=(("chain", "draw"), values)))
    assert any("chain 2 is stuck" in note for note in sampler_warnings(stuck))
    assert not any("stuck" in note for note in sampler_warnings(fit))
    # One dimension is sampled with an auxiliary coordinate, which lp leaves out.
    x = np.asarray(fit.posterior["x"])
    np.testing.assert_allclose(np.asarray(fit.sample_stats["lp"]),
                               -0.5 * x**2 - 0.5 * np.log(2 * np.pi))


def test_exhausted_shrinkage_loops_are_counted_and_warned_about():
    """A radius window of 1e6 around a unit-scale posterior needs about 20 halvings to find
    the slice: with max_steps=5 most radius loops give up, keep the current radius, and the
    fit says so."""
    model = _MODELS.setdefault(CORRELATED, ppl.model(CORRELATED))
    with pytest.warns(ppl.SamplingWarning, match="reached max_steps=5"):
        fit = model.sample({}, backend="gpss", chains=2, draws=50, warmup=20, seed=0,
                           init="uniform", standardise=False, radius_window=1e6, max_steps=5)
    assert fit.attrs["exhausted_loops"] > 10
