"""``y ~ dist(...) T[L, U]``: the normalised truncated density for data and parameters,
continuous and discrete, per-element ends, draws inside the bounds, and censored data through
the CDF functions; checked against scipy's truncated and censored closed forms."""

from __future__ import annotations

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl


def _parts(source: str, values: dict, data: dict | None = None) -> tuple[float, float]:
    """(log prior, log likelihood) at constrained ``values``, Jacobians left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(source).compile(data or {})
    u = compiled.unconstrain({k: jnp.asarray(v) for k, v in values.items()})
    prior, lik = compiled.log_density_parts(u, jacobian=False)
    return float(prior), float(lik)


@pytest.mark.parametrize("ends, a, b", [("-1, 2", -1.0, 2.0), ("0.3, ", 0.3, np.inf),
                                        (", 0.3", -np.inf, 0.3), ("9, ", 9.0, np.inf)])
def test_truncated_normal_data_matches_truncnorm(ends, a, b):
    source = f"""
data N: int >= 1
data y: vector[N]
mu ~ normal(0, 1)
sigma ~ half_normal(1)
y ~ normal(mu, sigma) T[{ends}]
"""
    y = np.clip([0.5, 1.0, -0.5], a + 0.01, b - 0.01)
    mu, sigma = 0.2, 1.3
    _, lik = _parts(source, {"mu": mu, "sigma": sigma}, {"N": 3, "y": y})
    expected = stats.truncnorm.logpdf(y, (a - mu) / sigma, (b - mu) / sigma, mu, sigma).sum()
    assert lik == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_truncated_poisson_is_normalised_by_the_cdf_difference():
    """P(k) / (F(U) - F(L - 1)): both ends included, as Stan's T[L, U]."""
    source = """
data N: int >= 1
data k: int[N] >= 0
lambda ~ exponential(1)
k ~ poisson(lambda) T[2, 6]
"""
    k, lam = np.array([2, 3, 6, 4]), 2.5
    _, lik = _parts(source, {"lambda": lam}, {"N": 4, "k": k})
    mass = sum(stats.poisson.pmf(j, lam) for j in range(2, 7))
    assert lik == pytest.approx(np.sum(stats.poisson.logpmf(k, lam) - np.log(mass)), rel=1e-12)


def test_per_element_ends_from_data_and_parameters():
    """Vector ends (data) and an end that is a parameter, for a parameter and for data."""
    source = """
data N: int >= 1
data L: vector[N]
data y: vector[N]
mu ~ normal(0, 1)
z[n] ~ normal(mu, 1) T[L[n], ] for n in 1:N
y ~ normal(mu, 1) T[, mu + 3]
"""
    L, z, mu = np.array([0.0, 1.0, 5.0]), np.array([0.5, 1.5, 5.5]), 0.2
    y = np.array([1.0, 2.0, 0.0])
    prior, lik = _parts(source, {"mu": mu, "z": z}, {"N": 3, "L": L, "y": y})
    assert prior == pytest.approx(stats.norm.logpdf(mu) + stats.truncnorm.logpdf(
        z, L - mu, np.inf, mu, 1).sum(), rel=1e-10)
    assert lik == pytest.approx(stats.truncnorm.logpdf(y, -np.inf, 3, mu, 1).sum(), rel=1e-10)


def test_a_truncated_parameter_lives_inside_its_ends():
    """T[L, U] on a parameter is its support: constrain maps every unconstrained value inside,
    and the gradient is finite far in the tail."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model("mu ~ normal(0, 1)\ntheta ~ normal(mu, 1) T[30, 31]\n").compile({})
    for u in (jnp.array([0.0, -30.0]), jnp.array([1.0, 30.0])):
        theta = float(compiled.constrain(u)["theta"])
        assert 30 <= theta <= 31
    value, grad = jax.value_and_grad(compiled.log_density)(jnp.array([0.5, 0.0]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_nuts_draws_follow_the_truncated_distribution():
    """theta ~ normal(1, 2) T[0, 3] sampled by NUTS: its mean is truncnorm's, within MCSE."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ppl.model("theta ~ normal(1, 2) T[0, 3]\n").sample(
            {}, chains=4, draws=1000, warmup=500, seed=5)
    theta = np.asarray(fit.posterior["theta"])
    assert np.all((theta >= 0) & (theta <= 3))
    truth = stats.truncnorm((0 - 1) / 2, (3 - 1) / 2, loc=1, scale=2).mean()
    mcse = theta.std() / np.sqrt(float(az.ess(fit.posterior["theta"].to_dataset())["theta"]))
    assert abs(theta.mean() - truth) < 4 * mcse, (theta.mean(), truth, mcse)


def test_prior_and_generated_draws_respect_the_ends():
    """Prior predictive draws of truncated data (continuous and discrete, far in a tail) and
    generated `~` draws lie inside the ends, and follow the truncated distribution."""
    source = """
data N: int >= 1
data y: vector[N]
data k: int[N]
mu ~ normal(0, 1)
y ~ normal(mu, 1) T[6, ]
k ~ poisson(3) T[1, 4]
generated w ~ gamma(2, 1) T[, 0.5]
"""
    prior = ppl.model(source).sample_prior_predictive({"N": 5}, draws=800, seed=1)
    y = np.asarray(prior["prior_predictive"]["y"]).ravel()
    k = np.asarray(prior["prior_predictive"]["k"]).ravel()
    w = np.asarray(prior["prior"]["w"]).ravel()
    assert np.all(y >= 6) and np.all((k >= 1) & (k <= 4)) and np.all((w > 0) & (w <= 0.5))
    pmf = stats.poisson.pmf(np.arange(1, 5), 3)
    counts = np.array([(k == j).sum() for j in range(1, 5)])
    assert stats.chisquare(counts, pmf / pmf.sum() * len(k)).pvalue > 1e-3
    gamma = stats.gamma(2)
    assert stats.kstest(w, lambda x: gamma.cdf(x) / gamma.cdf(0.5)).pvalue > 1e-3


def test_right_censored_data_with_lccdf_matches_the_closed_form():
    """Observed values below the censoring point c, and M more known only to exceed c: the log
    likelihood is sum(logpdf(y)) + M logsf(c)."""
    source = """
data N: int >= 0
data M: int >= 0
data c: real
data y: vector[N]
mu ~ normal(0, 5)
sigma ~ half_normal(2)
y ~ normal(mu, sigma)
target += M * normal_lccdf(c, mu, sigma)
"""
    y, mu, sigma = np.array([0.3, 1.1, -0.4, 1.9]), 0.5, 1.2
    prior, lik = _parts(source, {"mu": mu, "sigma": sigma},
                        {"N": 4, "M": 3, "c": 2.0, "y": y})
    expected = (stats.norm.logpdf(mu, 0, 5) + stats.halfnorm.logpdf(sigma, 0, 2)
                + stats.norm.logpdf(y, mu, sigma).sum() + 3 * stats.norm.logsf(2.0, mu, sigma))
    assert prior + lik == pytest.approx(expected, rel=1e-10)


def test_the_documented_censoring_example_gives_the_closed_form():
    """The censored-data model of docs/language.md, run on data: observed values, M values
    right-censored at c and K left-censored at their own limits."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text()
    block = next(b for b in text.split("```ppl\n")[1:] if "right-censored at c" in b)
    source = block.split("```")[0]
    y, below, mu, sigma = np.array([0.3, 1.1, -0.4]), np.array([-1.0, -2.5]), 0.5, 1.2
    data = {"N": 3, "y": y, "M": 2, "c": 2.0, "K": 2, "below": below}
    prior, lik = _parts(source, {"mu": mu, "sigma": sigma}, data)
    expected = (stats.norm.logpdf(mu, 0, 5) + stats.halfnorm.logpdf(sigma, 0, 2)
                + stats.norm.logpdf(y, mu, sigma).sum() + 2 * stats.norm.logsf(2.0, mu, sigma)
                + stats.norm.logcdf(below, mu, sigma).sum())
    assert prior + lik == pytest.approx(expected, rel=1e-10)


def test_a_truncated_likelihood_inside_a_mixture_and_ends_that_are_parameters():
    """With a discrete latent summed out, each component is the truncated normal; a parameter
    truncated between ends that are parameters has a finite gradient and stays inside."""
    source = """
data N: int
data y: vector[N]
w ~ dirichlet([1, 1])
mu: vector[2] ~ normal(0, 3)
z[n] ~ categorical(w) for n in 1:N
y[n] ~ normal(mu[z[n]], 1) T[0, ] for n in 1:N
"""
    y = np.array([0.1, 0.3, 2.0])
    _, lik = _parts(source, {"w": [0.3, 0.7], "mu": [-1.0, 1.0]}, {"N": 3, "y": y})
    parts = [stats.truncnorm.logpdf(y, -m, np.inf, m, 1) for m in (-1.0, 1.0)]
    assert lik == pytest.approx(np.logaddexp(np.log(0.3) + parts[0],
                                             np.log(0.7) + parts[1]).sum(), rel=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model("mu ~ normal(0, 1)\ntheta ~ normal(0, 2) T[mu, mu + 1]\n"
                             ).compile({})
    u = jnp.array([0.3, -0.2])
    value, grad = jax.value_and_grad(compiled.log_density)(u)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert 0.3 <= float(compiled.constrain(u)["theta"]) <= 1.3


def test_zero_truncated_negative_binomial_with_a_parameter_dispersion():
    """k ~ neg_binomial_2(mu, phi) T[1, ] with phi a parameter (its CDF goes through the
    incomplete beta function, differentiated in phi here): scipy's pmf over 1 - P(0), and a
    finite gradient."""
    source = """
data N: int >= 1
data k: int[N] >= 0
phi ~ exponential(1)
mu ~ lognormal(1, 1)
k ~ neg_binomial_2(mu, phi) T[1, ]
"""
    k, mu, phi = np.array([1, 4, 2, 9]), 3.0, 1.5
    _, lik = _parts(source, {"phi": phi, "mu": mu}, {"N": 4, "k": k})
    ref = stats.nbinom(phi, phi / (mu + phi))
    # 1e-7: NumPyro's neg_binomial_2 pmf goes through jax's betaln (5e-7 off at k = 9); the
    # normaliser itself agrees with scipy to 1e-15 (tests/test_reference_cdfs.py)
    assert lik == pytest.approx(np.sum(ref.logpmf(k) - np.log(ref.sf(0))), rel=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(source).compile({"N": 4, "k": k})
    grad = jax.grad(compiled.log_density)(jnp.array([0.4, 1.0]))
    assert np.all(np.isfinite(grad))


def test_the_new_families_truncate_against_scipy():
    """skew_normal, beta_binomial and von_mises with T[L, U] (ends inside the support),
    against scipy's densities divided by their masses there; an angle declared in [-pi, pi]
    keeps the von Mises density itself (its mass there is 1, as Stan's CDF says)."""
    source = """
data x: real
data k: int
data theta: real
data phi: real in [-pi(), pi()]
mu ~ normal(0, 1)
x ~ skew_normal(mu, 2, 3) T[-1, 2.5]
k ~ beta_binomial(12, 2.5, 0.7) T[2, 10]
theta ~ von_mises(mu, 3) T[-1, 2]
phi ~ von_mises(mu, 3)
"""
    mu, x, k, theta, phi = 0.3, 0.4, 7, 1.1, -2.9
    _, lik = _parts(source, {"mu": mu}, {"x": x, "k": k, "theta": theta, "phi": phi})
    sn = stats.skewnorm(3, mu, 2)
    bb = stats.betabinom(12, 2.5, 0.7)
    vm = stats.vonmises(3, loc=mu)
    expected = (sn.logpdf(x) - np.log(sn.cdf(2.5) - sn.cdf(-1))
                + bb.logpmf(k) - np.log(bb.cdf(10) - bb.cdf(1))
                + vm.logpdf(theta) - np.log(vm.cdf(2) - vm.cdf(-1))
                + vm.logpdf(phi))
    assert lik == pytest.approx(expected, rel=1e-9)


def test_a_truncated_skew_normal_parameter_samples_inside_its_ends():
    """Prior draws of a truncated skew normal (inverted CDF by bisection) lie between the
    ends and follow the truncated CDF."""
    source = "generated w ~ skew_normal(0, 1, 4) T[-0.5, 1]\n"
    compiled = ppl.model(source).compile({})
    draws = np.asarray(jax.vmap(lambda key: compiled.generated(jnp.zeros(0), key)["w"])(
        jax.random.split(jax.random.PRNGKey(3), 2000)))
    assert draws.min() >= -0.5 and draws.max() <= 1
    ref = stats.skewnorm(4)
    lo, hi = ref.cdf(-0.5), ref.cdf(1)
    assert stats.kstest(draws, lambda v: (ref.cdf(v) - lo) / (hi - lo)).pvalue > 1e-3


def test_pieces_of_a_truncated_statement_keep_their_own_ends():
    """`y[1] ~ ... T[0, 5]` with `y[t] ~ ... T[0, y[t - 1] + 2] for t in 2:T`: each element is
    normalised by its own piece's ends (the merged statement used to take the first piece's
    truncation for every element)."""
    source = """
data T: int
data y: vector[T]
y[1] ~ normal(0, 1) T[0, 5]
y[t] ~ normal(y[t - 1], 1) T[0, y[t - 1] + 2] for t in 2:T
"""
    _, lik = _parts(source, {}, {"T": 3, "y": [0.5, 1.0, 2.5]})
    expected = (stats.truncnorm.logpdf(0.5, 0, 5) + stats.truncnorm.logpdf(1.0, -0.5, 2, loc=0.5)
                + stats.truncnorm.logpdf(2.5, -1, 2, loc=1.0))
    assert lik == pytest.approx(expected, rel=1e-12)
