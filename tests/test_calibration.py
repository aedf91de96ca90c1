"""A fast calibration check in the default suite: simulation-based calibration on stacked
replications.

R independent replications of a small model are written as one model with R copies of each
parameter; its posterior factorises, so one NUTS run gives all R posteriors (the slow,
one-fit-per-replication SBC is in tests/test_posteriors.py, marked slow). The truths are one
draw of the stacked model's prior, the data its prior predictive.

The statistic: z_r = (truth_r - posterior mean_r) / posterior sd_r. For any model, E[z^2] = 1
exactly under the joint distribution of truth and data (the posterior variance is the expected
squared error of the posterior mean), whatever the posterior's shape; with MCMC estimates it is
1 + O(1 / ESS). Its Monte Carlo error comes from the replications: the tolerance is Z standard
errors of mean(z^2), estimated from the z's themselves. A sampler whose posterior sd is 20% too
small gives E[z^2] = 1.56 and one 20% too large 0.69: both fail, as each test shows by shrinking
and stretching its own draws about their means. The ranks of the truths among the draws are
also checked for uniformity (chi-square).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

import ppl

# Three standard errors: a correct sampler fails one comparison with probability 0.3%, and a
# posterior sd 20% off (mean z^2 1.56 or 0.69, 0.3-0.5 away from 1) is 3.5-6 standard errors
# away with 400 replications. The seeds are fixed, so the outcome is reproducible.
Z = 3.0


REPLICATIONS = 400


def _stacked_fit(source: str, per_replication: int, seed: int, var_names=()):
    """(truth, fit) for ``REPLICATIONS`` stacked copies of a model whose observations ``y``
    (``per_replication`` each) belong to replication ``g``: a prior draw of every parameter
    and the fit to its simulated data."""
    g = np.repeat(np.arange(1, REPLICATIONS + 1), per_replication)
    data, observed = {"R": REPLICATIONS, "M": len(g), "g": g}, "y"
    model = ppl.model(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = model.sample_prior_predictive(data, draws=1, seed=seed,
                                              var_names=list(var_names))
        simulated = np.asarray(prior["prior_predictive"][observed])[0, 0]
        fit = model.sample({**data, observed: simulated}, chains=4, draws=250, warmup=250,
                           seed=seed + 1, var_names=list(var_names))
    truth = {name: np.asarray(prior["prior"][name])[0, 0] for name in prior["prior"].data_vars}
    return truth, fit


def _draws(fit, name: str) -> np.ndarray:
    values = np.asarray(fit["posterior"][name])
    return values.reshape(-1, *values.shape[2:])  # (draws, R)


def _mean_z2(truth: np.ndarray, draws: np.ndarray) -> tuple[float, float]:
    """mean(z^2) over the replications and its standard error."""
    z2 = ((truth - draws.mean(axis=0)) / draws.std(axis=0)) ** 2
    return float(z2.mean()), float(z2.std() / np.sqrt(z2.size))


def _scaled(draws: np.ndarray, factor: float) -> np.ndarray:
    """A deliberately broken posterior: the draws moved away from their mean by ``factor``."""
    return draws.mean(axis=0) + factor * (draws - draws.mean(axis=0))


def _check(truth: np.ndarray, draws: np.ndarray, name: str) -> None:
    mean, se = _mean_z2(truth, draws)
    assert abs(mean - 1) < Z * se, f"{name}: mean z^2 = {mean:.3f} +- {se:.3f}"
    for factor in (0.8, 1.2):  # the same check on a sampler with the sd 20% off fails
        broken, _ = _mean_z2(truth, _scaled(draws, factor))
        assert abs(broken - 1) >= Z * se, f"{name}: sd x {factor} not detected ({broken:.3f})"
    # Ranks of the truths among 100 thinned draws, in 10 bins.
    thinned = draws[:: draws.shape[0] // 100][:100]
    assert len(thinned) == 100
    ranks = (thinned < truth).sum(axis=0)
    counts = np.bincount(np.minimum(ranks // 10, 9), minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3, f"{name}: rank histogram {counts.tolist()}"


def test_conjugate_normal_is_calibrated():
    source = """
data R: int >= 1
data M: int >= 1
data g: int[M] in [1, R]     # the replication of each observation
data y: real[M]
mu: vector[R] ~ normal(0, 1)
sigma: vector[R] ~ lognormal(0, 0.5)
y ~ normal(mu[g], sigma[g])
"""
    truth, fit = _stacked_fit(source, per_replication=6, seed=11)
    for name in ("mu", "sigma"):
        _check(truth[name], _draws(fit, name), name)


def test_hierarchical_model_is_calibrated():
    """Non-centred eight-schools-like replications: three groups each, known unit noise
    (400 replications: a 20% too wide posterior moves E[z^2] only to 0.69)."""
    source = """
data R: int >= 1
data M: int >= 1
data g: int[M] in [1, R]     # the replication of each group
data y: real[M]
mu: vector[R] ~ normal(0, 2)
tau: vector[R] ~ half_normal(1)
theta_raw: vector[M] ~ normal(0, 1)
theta = mu[g] + tau[g] .* theta_raw
y ~ normal(theta, 1)
"""
    truth, fit = _stacked_fit(source, per_replication=3, seed=21, var_names=["theta"])
    for name in ("mu", "tau"):
        _check(truth[name], _draws(fit, name), name)
    _check(truth["theta"], _draws(fit, "theta"), "theta")
