"""Statistical tests of the whole pipeline (parse, compile, NUTS, results) against known answers.

1. Exact conjugate posteriors: the posterior mean and sd of each parameter are compared with
   the closed form, with a tolerance of ``Z`` Monte Carlo standard errors (see
   ``check_moments``). A test shows that the check rejects slightly wrong answers, so these
   tests can fail when the sampler or a log-density is wrong.
2. Parameter recovery: data simulated from the model's own prior predictive, then fitted; the
   parameters that generated the data must lie within ``Z_RECOVERY`` posterior sds of the
   posterior mean. The regression is conjugate (normal-inverse-gamma), so its fit is also
   checked against the exact posterior within ``Z`` MCSEs.
3. Simulation-based calibration (``-m slow``): the rank of each prior draw among the posterior
   draws given its simulated data is uniform when the whole pipeline is right.

All seeds are fixed, so the outcomes are deterministic.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pytest
from scipy import stats

import ppl

# Tolerance in Monte Carlo standard errors. With 20 moment checks in this file, each
# |z| > 4.5 has probability ~7e-6 under a correct sampler (normal approximation of the
# estimator), so a family-wise false alarm rate of ~1e-4 per fresh seed. The margin also
# covers the ESS estimates of NUTS's (often antithetic, ESS > draws) chains being optimistic:
# over 8 seeds of the conjugate fit the z-values of the means had sd ~1.2, not 1. A wrong
# answer of 0.2 posterior sd in the mean, or 10% in the sd, is rejected (test_check_rejects_*).
Z = 4.5
# Parameter recovery: |posterior mean - true value| / posterior sd. Measured in posterior sds,
# not MCSEs: the generating value is one draw from the prior, so given the data it is a draw
# from the posterior, and its distance from the posterior mean is of the order of the
# posterior sd however many draws are taken. An MCSE tolerance would shrink with the draws and
# fail a correct sampler. Where the exact posterior is known (the conjugate regression), the
# fit is also compared with it within Z MCSEs.
Z_RECOVERY = 4.0

SAMPLING = dict(chains=4, draws=1000, warmup=1000)


# --------------------------------------------------------------------------------------------
# The check


def moment_z(draws, mean: float, sd: float) -> tuple[float, float]:
    """z-scores of the Monte Carlo estimates of the posterior mean and sd of one scalar.

    ``draws`` has shape (chain, draw). The standard error of the mean estimate is
    sd / sqrt(ess_mean), with the ESS of the draws themselves. (The rank-normalised bulk ESS
    is not the ESS of the mean: for the skewed inv_gamma posterior below it is 1.5 times
    larger, which would understate the error.) The sd estimate is s = sqrt(v) with v the mean
    of the squared centred draws c^2; the MCSE of v is sd(c^2) / sqrt(ess(c^2)) and by the
    delta method the MCSE of s is MCSE(v) / (2 s), which is what ``az.mcse(method="sd")``
    computes.
    """
    draws = np.asarray(draws, dtype=float)
    assert draws.ndim == 2, draws.shape
    estimate_sd = draws.std()
    se_mean = estimate_sd / math.sqrt(float(az.ess(draws, method="mean")))
    se_sd = float(az.mcse(draws, method="sd"))
    return (float(draws.mean()) - mean) / se_mean, (estimate_sd - sd) / se_sd


def check_moments(draws, mean, sd, z: float = Z, name: str = "x") -> list[tuple[float, float]]:
    """Assert that the posterior mean and sd of each element of ``draws`` (chain, draw, ...)
    match ``mean`` and ``sd`` (broadcast to the element shape) within ``z`` MCSEs. Returns
    the (z_mean, z_sd) pairs."""
    draws = np.asarray(draws, dtype=float)
    shape = draws.shape[2:]
    mean = np.broadcast_to(np.asarray(mean, dtype=float), shape)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), shape)
    zs, failures = [], []
    for index in np.ndindex(*shape):
        z_mean, z_sd = moment_z(draws[(slice(None), slice(None), *index)], mean[index], sd[index])
        zs.append((z_mean, z_sd))
        label = name + (str(list(index)) if index else "")
        if not abs(z_mean) < z:
            failures.append(f"{label}: mean {draws[(..., *index)].mean():.5g} vs exact "
                            f"{mean[index]:.5g} (z = {z_mean:.2f})")
        if not abs(z_sd) < z:
            failures.append(f"{label}: sd {draws[(..., *index)].std():.5g} vs exact "
                            f"{sd[index]:.5g} (z = {z_sd:.2f})")
    assert not failures, "; ".join(failures)
    return zs


def check_healthy(fit, names) -> None:
    """No divergences, R-hat < 1.01 and bulk ESS > 400 for the named quantities: a sampler
    that fails these would make the moment checks meaningless."""
    divergences = int(np.asarray(fit["sample_stats"]["diverging"]).sum())
    assert divergences == 0, f"{divergences} divergent transitions"
    for name in names:
        draws = np.asarray(fit["posterior"][name], dtype=float)
        flat = draws.reshape(draws.shape[0], draws.shape[1], -1)
        for j in range(flat.shape[2]):
            rhat = float(az.rhat(flat[:, :, j]))
            ess = float(az.ess(flat[:, :, j], method="bulk"))
            assert rhat < 1.01, f"{name}[{j}]: R-hat {rhat:.3f}"
            assert ess > 400, f"{name}[{j}]: bulk ESS {ess:.0f}"


def posterior(fit, name):
    return np.asarray(fit["posterior"][name], dtype=float)


# --------------------------------------------------------------------------------------------
# The check itself: accepts right answers, rejects wrong ones


def _ar1_chains(rng, rho: float, chains: int, draws: int, mean: float, sd: float):
    """Stationary AR(1) chains with the given marginal mean and sd."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(size=chains)
    noise = rng.normal(scale=math.sqrt(1 - rho**2), size=(chains, draws))
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return mean + sd * x


def test_check_is_calibrated_on_autocorrelated_draws():
    # With strongly autocorrelated draws (rho = 0.8, ESS ~ N / 9) the z-scores of the true
    # moments must still be about standard normal: the check uses the ESS, not the draw count.
    rng = np.random.default_rng(20240601)
    zs = np.array([moment_z(_ar1_chains(rng, 0.8, 4, 1000, 3.0, 2.0), 3.0, 2.0)
                   for _ in range(200)])
    assert np.all(np.abs(zs) < Z)
    for column in zs.T:
        assert abs(column.mean()) < 0.3
        assert 0.8 < column.std() < 1.25


def test_check_rejects_wrong_answers_on_independent_draws():
    draws = np.random.default_rng(7).normal(loc=1.0, scale=2.0, size=(4, 1000))
    check_moments(draws[..., None], 1.0, 2.0)
    with pytest.raises(AssertionError, match="mean"):
        check_moments(draws[..., None], 1.0 + 0.2 * 2.0, 2.0)  # truth off by 0.2 sd
    with pytest.raises(AssertionError, match="sd"):
        check_moments(draws[..., None], 1.0, 2.0 * 1.1)  # sd off by 10%


# --------------------------------------------------------------------------------------------
# 1. Exact conjugate posteriors


# One model holds several independent conjugate pairs: its posterior factorises into the
# exact posteriors of the pairs, and one compilation serves them all (compilation, not
# sampling, dominates the cost of these small fits). Each pair has its own test below.
CONJUGATE = """
# normal-normal: known sigma, normal prior on the mean
data N: int >= 1
data y: real[N]
data sigma: real > 0
mu ~ normal(1, 2)
y ~ normal(mu, sigma)

# beta-binomial: independent groups, one at the boundary (0 successes), one near the other
data K: int >= 1
data n: int[K] >= 0
data k: int[K] >= 0
theta: vector[K] ~ beta(2, 3)
k ~ binomial(n, theta)

# beta-bernoulli: a vector of 0/1 outcomes
data M: int >= 1
data b: int[M] in [0, 1]
p ~ beta(1.5, 1.5)
b ~ bernoulli(p)

# gamma-Poisson: gamma prior with a rate
data P: int >= 1
data c: int[P] >= 0
lam ~ gamma(3, 0.5)
c ~ poisson(lam)

# inverse-gamma prior on a variance, normal data with known mean
data R: int >= 1
data e: real[R]
s2 ~ inv_gamma(3, 2)
e ~ normal(0, sqrt(s2))

# Dirichlet-categorical
data C: int >= 2
data alpha: vector[C] > 0
data Q: int >= 1
data d: int[Q] >= 1
phi: vector[C] ~ dirichlet(alpha)
d ~ categorical(phi)
"""


def _conjugate_data():
    rng = np.random.default_rng(1)
    y = rng.normal(0.5, 1.5, size=20)
    b = (rng.uniform(size=30) < 0.3).astype(int)
    c = rng.poisson(4.0, size=15)
    e = rng.normal(0.0, 0.8, size=12)
    d = rng.choice(3, size=25, p=[0.2, 0.3, 0.5]) + 1
    return dict(N=len(y), y=y, sigma=1.5,
                K=3, n=np.array([10, 12, 40]), k=np.array([3, 0, 37]),
                M=len(b), b=b, P=len(c), c=c, R=len(e), e=e,
                C=3, alpha=np.array([1.0, 2.0, 0.5]), Q=len(d), d=d)


def beta_moments(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def exact_posteriors(data) -> dict[str, tuple]:
    """Closed-form posterior (mean, sd) of every parameter of CONJUGATE."""
    y, sigma, m0, s0 = data["y"], data["sigma"], 1.0, 2.0
    precision = 1 / s0**2 + len(y) / sigma**2
    mu = ((m0 / s0**2 + y.sum() / sigma**2) / precision, math.sqrt(1 / precision))

    n, k = data["n"], data["k"]
    theta = beta_moments(2 + k, 3 + n - k)
    successes = data["b"].sum()
    p = beta_moments(1.5 + successes, 1.5 + len(data["b"]) - successes)

    shape, rate = 3 + data["c"].sum(), 0.5 + len(data["c"])
    lam = (shape / rate, math.sqrt(shape) / rate)

    shape, scale = 3 + len(data["e"]) / 2, 2 + np.sum(data["e"] ** 2) / 2
    s2 = (scale / (shape - 1), scale / ((shape - 1) * math.sqrt(shape - 2)))

    counts = np.bincount(data["d"] - 1, minlength=data["C"])
    concentration = data["alpha"] + counts
    phi = beta_moments(concentration, concentration.sum() - concentration)
    return dict(mu=mu, theta=theta, p=p, lam=lam, s2=s2, phi=phi)


@pytest.fixture(scope="module")
def conjugate():
    data = _conjugate_data()
    fit = ppl.model(CONJUGATE).sample(data=data, seed=11, **SAMPLING)
    return fit, exact_posteriors(data)


@pytest.mark.parametrize("name", ["mu", "theta", "p", "lam", "s2", "phi"],
                         ids=["normal-normal", "beta-binomial", "beta-bernoulli",
                              "gamma-poisson", "inv_gamma-normal", "dirichlet-categorical"])
def test_conjugate_posterior(conjugate, name):
    fit, exact = conjugate
    check_healthy(fit, [name])
    mean, sd = exact[name]
    check_moments(posterior(fit, name), mean, sd, name=name)


def test_check_rejects_wrong_answers_on_a_real_fit(conjugate):
    # The fit of test_conjugate_posterior[normal-normal]: the check has the power to see an
    # error of 0.2 posterior sd in the mean, or of 10% in the sd.
    fit, exact = conjugate
    mean, sd = exact["mu"]
    draws = posterior(fit, "mu")
    z_mean, _ = moment_z(draws, mean + 0.2 * sd, sd)
    _, z_sd = moment_z(draws, mean, 1.1 * sd)
    assert abs(z_mean) > Z and abs(z_sd) > Z, (z_mean, z_sd)
    with pytest.raises(AssertionError):
        check_moments(draws[..., None], mean + 0.2 * sd, sd)
    with pytest.raises(AssertionError):
        check_moments(draws[..., None], mean, 1.1 * sd)


# --------------------------------------------------------------------------------------------
# 2. Parameter recovery from the model's own prior predictive


def recover(source: str, data: dict, observed: str, seed: int, names, informative,
            **options):
    """Simulate ``observed`` (and the parameters) from the prior predictive, fit, and check
    that every element of every named quantity is within Z_RECOVERY posterior sds of the
    value that generated the data. Returns the fit and the simulated ``observed``.

    A posterior that ignored the data (the prior) would pass that check, so the posterior
    sd of the ``informative`` quantities must also be under a third of their prior sd."""
    model = ppl.model(source)
    # Draw 0 generates the data; all 1000 estimate the prior sds.
    prior = model.sample_prior_predictive(data=data, draws=1000, seed=seed)
    prior_draws = {name: np.asarray(prior["prior"][name], dtype=float)[0] for name in names}
    truth = {name: draws[0] for name, draws in prior_draws.items()}
    simulated = np.asarray(prior["prior_predictive"][observed])[0, 0]
    fit = model.sample(data={**data, observed: simulated}, seed=seed, **SAMPLING, **options)
    check_healthy(fit, names)
    zs, failures = {}, []
    for name in names:
        draws = posterior(fit, name)
        mean, sd = draws.mean(axis=(0, 1)), draws.std(axis=(0, 1))
        zs[name] = z = (mean - truth[name]) / sd
        if not np.all(np.abs(z) < Z_RECOVERY):
            failures.append(f"{name}: true {truth[name]}, posterior mean {mean}, z = {z}")
        prior_sd = prior_draws[name].std(axis=0)
        if name in informative and not np.all(sd < prior_sd / 3):
            failures.append(f"{name}: posterior sd {sd} not under a third of prior sd "
                            f"{prior_sd}")
    assert not failures, "; ".join(failures)
    return fit, simulated


def normal_inverse_gamma_posterior(design, y, prior_variance: float, a0: float, b0: float):
    """Exact posterior (mean, sd) of the coefficients and of the noise variance of
    ``y ~ normal(design @ w, sqrt(s2))`` with ``w ~ normal(0, sqrt(prior_variance * s2))`` and
    ``s2 ~ inv_gamma(a0, b0)``: ``w`` is multivariate t with 2 a_n degrees of freedom, ``s2``
    inverse gamma (a_n, b_n)."""
    precision = np.eye(design.shape[1]) / prior_variance + design.T @ design
    cov = np.linalg.inv(precision)
    mean = cov @ design.T @ y
    a_n = a0 + len(y) / 2
    b_n = b0 + (y @ y - mean @ precision @ mean) / 2
    w_sd = np.sqrt(np.diag(cov) * b_n / (a_n - 1))
    s2_mean = b_n / (a_n - 1)
    return (mean, w_sd), (s2_mean, s2_mean / math.sqrt(a_n - 2))


def test_recovers_linear_regression():
    # The noise variance scales the coefficients' prior (normal-inverse-gamma), which makes
    # the posterior exact; sigma2 then sits in the mean and in both scales.
    source = """
    data N: int >= 1
    data K: int >= 1
    data X: matrix[N, K]
    data y: real[N]
    sigma2 ~ inv_gamma(3, 2)
    alpha ~ normal(0, 2 * sqrt(sigma2))
    beta: vector[K] ~ normal(0, 2 * sqrt(sigma2))
    y ~ normal(alpha + X * beta, sqrt(sigma2))
    """
    X = np.random.default_rng(4).normal(size=(40, 3))
    fit, y = recover(source, dict(N=40, K=3, X=X), "y", seed=5,
                     names=["alpha", "beta", "sigma2"], informative=["alpha", "beta", "sigma2"])
    design = np.column_stack([np.ones(len(X)), X])
    (w_mean, w_sd), (s2_mean, s2_sd) = normal_inverse_gamma_posterior(
        design, np.asarray(y, dtype=float), 4.0, 3.0, 2.0)
    check_moments(posterior(fit, "alpha")[..., None], w_mean[0], w_sd[0], name="alpha")
    check_moments(posterior(fit, "beta"), w_mean[1:], w_sd[1:], name="beta")
    check_moments(posterior(fit, "sigma2")[..., None], s2_mean, s2_sd, name="sigma2")


def test_recovers_hierarchical_model():
    # Centred: with 8 observations a group the group means are well identified by the data,
    # where the centred form samples best (the non-centred one gives divergences here).
    source = """
    data N: int >= 1
    data J: int >= 1
    data g: int[N] >= 1
    data y: real[N]
    mu ~ normal(0, 3)
    tau ~ half_normal(2)
    a: vector[J] ~ normal(mu, tau)    # group means
    sigma ~ half_normal(1)
    y ~ normal(a[g], sigma)
    """
    J, per_group = 5, 8
    g = np.repeat(np.arange(1, J + 1), per_group)
    recover(source, dict(N=len(g), J=J, g=g), "y", seed=6, names=["mu", "tau", "a", "sigma"],
            informative=["a", "sigma"], target_accept=0.95)


# --------------------------------------------------------------------------------------------
# 3. Simulation-based calibration (Talts et al. 2018)


SBC_MODEL = """
data N: int >= 1
data y: real[N]
mu ~ normal(0, 1)
sigma ~ half_normal(1)
y ~ normal(mu, sigma)
"""


@pytest.mark.slow
def test_simulation_based_calibration():
    replications, bins = 100, 10
    chains, draws, thin = 4, 250, 10      # 100 thinned draws, 99 of them used: ranks 0..99
    kept = bins * bins - 1
    model = ppl.model(SBC_MODEL)
    data = dict(N=8)
    prior = model.sample_prior_predictive(data=data, draws=replications, seed=2024)
    names = ["mu", "sigma"]
    truth = {name: np.asarray(prior["prior"][name], dtype=float)[0] for name in names}
    ys = np.asarray(prior["prior_predictive"]["y"], dtype=float)[0]
    ranks = {name: [] for name in names}
    for r in range(replications):
        fit = model.sample(data={**data, "y": ys[r]}, chains=chains, draws=draws, warmup=500,
                           seed=1000 + r)
        for name in names:
            post = posterior(fit, name)[:, ::thin].reshape(-1)[:kept]
            ranks[name].append(int(np.sum(post < truth[name][r])))
    for name in names:
        counts = np.bincount(np.asarray(ranks[name]) // bins, minlength=bins)
        assert counts.sum() == replications
        p = stats.chisquare(counts).pvalue
        print(f"SBC {name}: rank histogram {counts.tolist()}, chi-square p = {p:.3g}")
        # Two tests at 0.001 each: a correct pipeline fails with probability ~0.002.
        assert p > 0.001, f"{name}: rank histogram {counts.tolist()}, chi-square p = {p:.2g}"
