"""The numbers of a calibration study, from simulated truths and posterior draws (NumPy only).

- **Ranks** (simulation-based calibration, Talts et al. 2018): the rank of a simulated true
  value among the posterior draws of its fit, after thinning the draws to about their bulk
  effective sample size so that they are nearly independent. Ranks out of different numbers
  of draws are made comparable as *fractional ranks* ``(rank + U) / (L + 1)`` with ``U`` a
  uniform jitter at a fixed seed: under a correct posterior they are exactly uniform on (0, 1).
- **Simultaneous ECDF bands** (Säilynoja, Bürkner, Vehtari 2022): the band inside which the
  ECDF of ``n`` uniform values stays, at every evaluation point at once, with probability
  ``1 - alpha``. Found by simulating uniform ECDFs at a fixed seed: each simulated ECDF's
  smallest two-sided binomial tail probability over the points is recorded, and the
  ``alpha`` quantile ``gamma`` of those gives the pointwise level of the band.
- **TARP** (Lemos, Coogan, Hezaveh, Perreault-Levasseur 2023): for every simulation, a random
  reference point and the fraction ``f`` of posterior draws closer to it than the truth is.
  The expected coverage of the credible regions at level ``a`` is the fraction of simulations
  with ``f <= a``; it equals ``a`` for every ``a`` when the posterior is right (``f`` uniform),
  which is tested with the same band, and shown with a bootstrap band over simulations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# The number of uniform ECDFs simulated to find a band's level (Säilynoja et al. use 1000s).
BAND_SIMULATIONS = 2000
# At most this many evaluation points for an ECDF (fewer when there are fewer values).
MAX_POINTS = 100
# How far (in standard errors) a rank's mean or spread must be from uniform's to be named.
SHAPE_Z = 2.0


@dataclass(frozen=True)
class Band:
    """A simultaneous band for the ECDF of ``n`` uniform values at ``points``."""

    n: int
    points: np.ndarray  # evaluation points in (0, 1)
    lower: np.ndarray  # ECDF values
    upper: np.ndarray
    level: float  # the pointwise two-sided tail probability (gamma) that makes the band
    null_minima: np.ndarray  # each simulated uniform ECDF's smallest tail probability, sorted


@dataclass(frozen=True)
class UniformityTest:
    """The ECDF of some values tested against the uniform distribution on (0, 1)."""

    ecdf: np.ndarray  # at the band's points
    inside: bool  # the ECDF stays inside the simultaneous 1 - alpha band
    p_value: float  # the fraction of uniform ECDFs at least as far out (simulated)
    shape: str  # "uniform", "u-shaped", "hump-shaped", "low" or "high"


def evaluation_points(n: int) -> np.ndarray:
    """Equally spaced points strictly inside (0, 1), at most :data:`MAX_POINTS`."""
    k = max(2, min(n, MAX_POINTS))
    return np.arange(1, k) / k


def _tail_probabilities(counts: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """Two-sided binomial tail probability of each count (out of ``n`` at probability
    ``points``), capped at 1."""
    below = stats.binom.cdf(counts, n, points)
    above = stats.binom.sf(counts - 1, n, points)
    return np.minimum(1.0, 2.0 * np.minimum(below, above))


def _ecdf_counts(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How many of ``values`` (last axis) are at most each point."""
    ordered = np.sort(values, axis=-1)
    return np.stack([np.searchsorted(row, points, side="right")
                     for row in ordered.reshape(-1, ordered.shape[-1])]
                    ).reshape(*values.shape[:-1], len(points))


def simultaneous_band(n: int, alpha: float = 0.05, seed: int = 0,
                      simulations: int = BAND_SIMULATIONS) -> Band:
    """The simultaneous ``1 - alpha`` band for the ECDF of ``n`` uniform values, by
    simulation at a fixed ``seed`` (the same band every time)."""
    points = evaluation_points(n)
    rng = np.random.default_rng(seed)
    counts = _ecdf_counts(rng.uniform(size=(simulations, n)), points)
    minima = np.sort(_tail_probabilities(counts, n, points).min(axis=1))
    level = float(np.quantile(minima, alpha))
    lower = stats.binom.ppf(level / 2, n, points) / n
    upper = stats.binom.ppf(1 - level / 2, n, points) / n
    return Band(n, points, lower, upper, level, minima)


def uniformity(values: np.ndarray, band: Band) -> UniformityTest:
    """Test values in (0, 1) against the uniform distribution with ``band`` (made for as many
    values)."""
    values = np.asarray(values, dtype=float)
    counts = _ecdf_counts(values, band.points)
    smallest = _tail_probabilities(counts, band.n, band.points).min()
    p_value = float(np.searchsorted(band.null_minima, smallest, side="right")
                    / len(band.null_minima))
    ecdf = counts / band.n
    inside = bool(np.all((ecdf >= band.lower) & (ecdf <= band.upper)))
    return UniformityTest(ecdf, inside, p_value, failure_shape(values))


def failure_shape(values: np.ndarray) -> str:
    """What a departure from uniform looks like: ``"u-shaped"`` (too many values at both ends),
    ``"hump-shaped"`` (too few), ``"low"`` or ``"high"`` (shifted to one end), or
    ``"uniform"`` when neither the mean nor the spread is :data:`SHAPE_Z` standard errors
    away from a uniform's (1/2 and 1/12)."""
    n = len(values)
    z_mean = (np.mean(values) - 0.5) / np.sqrt(1 / 12 / n)
    # (u - 1/2)^2 has mean 1/12 and variance 1/80 - 1/144 = 1/180 under uniform
    z_spread = (np.mean((values - 0.5) ** 2) - 1 / 12) / np.sqrt(1 / 180 / n)
    if max(abs(z_mean), abs(z_spread)) < SHAPE_Z:
        return "uniform"
    if abs(z_spread) >= abs(z_mean):
        return "u-shaped" if z_spread > 0 else "hump-shaped"
    return "high" if z_mean > 0 else "low"


def thinning_step(draws: np.ndarray) -> int:
    """Keep every ``step``-th draw so that what is kept is about as many draws as the smallest
    bulk effective sample size of any scalar (``draws``: chain, draw, scalar)."""
    from arviz_stats.base import array_stats

    chains, per_chain, _ = draws.shape
    if per_chain < 4:
        return 1
    ess = array_stats.ess(np.moveaxis(draws, 2, 0), chain_axis=-2, draw_axis=-1,
                          method="bulk")
    smallest = float(np.nanmin(ess)) if np.isfinite(ess).any() else 1.0
    return max(1, int(np.ceil(chains * per_chain / max(smallest, 1.0))))


def fractional_ranks(truths: np.ndarray, draws: list[np.ndarray], seed: int = 0
                     ) -> np.ndarray:
    """Fractional ranks (simulation, scalar) of ``truths`` (simulation, scalar) among each
    simulation's draws (chain, draw, scalar), thinned by :func:`thinning_step`. Ties (a
    discrete or stuck parameter) are broken at random, like the jitter."""
    rng = np.random.default_rng(seed)
    ranks = np.empty(truths.shape)
    for i, sample in enumerate(draws):
        kept = sample[:, ::thinning_step(sample), :].reshape(-1, sample.shape[-1])
        below = (kept < truths[i]).sum(axis=0)
        ties = (kept == truths[i]).sum(axis=0)
        rank = below + np.floor(rng.uniform(size=below.shape) * (ties + 1))
        ranks[i] = (rank + rng.uniform(size=below.shape)) / (len(kept) + 1)
    return ranks


@dataclass(frozen=True)
class Tarp:
    """TARP's numbers: ``f`` per simulation and the expected coverage curve with its band."""

    fractions: np.ndarray  # per simulation: draws closer to the reference than the truth
    credibility: np.ndarray  # the levels a of the curve, 0..1
    coverage: np.ndarray  # the fraction of simulations with f <= a
    coverage_lower: np.ndarray  # bootstrap band over simulations (1 - alpha)
    coverage_upper: np.ndarray


def tarp(truths: np.ndarray, draws: list[np.ndarray], seed: int = 0, alpha: float = 0.05,
         bootstrap: int = 500, levels: int = 101) -> Tarp:
    """TARP with references drawn uniformly in the box of the standardised truths.

    ``truths``: (simulation, scalar); ``draws``: per simulation (chain, draw, scalar). Every
    scalar is standardised by the truths' mean and standard deviation (so that distances weigh
    the parameters alike), as Lemos et al. do."""
    rng = np.random.default_rng(seed)
    centre = truths.mean(axis=0)
    scale = truths.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    standard = (truths - centre) / scale
    low, high = standard.min(axis=0), standard.max(axis=0)
    fractions = np.empty(len(truths))
    for i, sample in enumerate(draws):
        points = (sample.reshape(-1, sample.shape[-1]) - centre) / scale
        reference = rng.uniform(low, high)
        to_truth = np.linalg.norm(standard[i] - reference)
        fractions[i] = np.mean(np.linalg.norm(points - reference, axis=1) < to_truth)
    credibility = np.linspace(0, 1, levels)
    coverage = (fractions[:, None] <= credibility).mean(axis=0)
    resampled = fractions[rng.integers(0, len(fractions), (bootstrap, len(fractions)))]
    curves = (resampled[:, :, None] <= credibility).mean(axis=1)
    lower, upper = np.quantile(curves, [alpha / 2, 1 - alpha / 2], axis=0)
    return Tarp(fractions, credibility, coverage, lower, upper)
