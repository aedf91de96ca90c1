"""Dense metric or its diagonal, chosen from the warm-up's own draws.

A dense mass matrix pays where the posterior is correlated (benchmarks/bench_metric.py: 1.0-92
times the diagonal metric's ESS per gradient on the conformance posteriors) and costs where it
is not: estimated from a window of tens to hundreds of autocorrelated draws, a d x d
covariance carries sampling noise that spreads the eigenvalues of the whitened posterior,
which shrinks the step size and lengthens the trajectories. On a logistic regression with 51
nearly independent coefficients the dense metric took 1.4 times the diagonal one's leapfrog
steps in warm-up and 1.2 times in sampling (NumPyro's dense metric as well as ppl's).

So the run measures it. NUTS adapts the metric in windows (NumPyro's schedule; the metric is
fixed at each window's end and the step size adapted afresh). At each window's end every
chain's dense estimate is tested on draws it was not estimated from (the other chains' draws of
the same window; one chain: each half of its window against the other): the Gaussian
log-likelihood of those draws, the scale left free, under the dense estimate and under its
diagonal (:func:`held_out_loss`). The one that predicts the held-out draws better (the median
over chains) is the metric of the next window, and after the last window, of sampling. Unlike
a condition number the held-out likelihood needs no inverse of the held-out covariance, so a
window of fewer draws than dimensions is scored as well. The kernel stays the dense one; a
diagonal metric is a diagonal matrix in it (d <= 200 here, so its matrix-vector products cost
little beside a gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpyro.infer.hmc_util import build_adaptation_schedule

# NumPyro's regularisation of a window's covariance (hmc_util.welford_covariance's users):
# shrink towards 1e-3 times the identity with the weight of this many draws.
_SHRINK_DRAWS = 5
_SHRINK_TO = 1e-3


@dataclass(frozen=True)
class MetricChoice:
    """The metric kept and why: ``dense_loss`` and ``diagonal_loss`` are the medians over
    chains of the held-out losses (:func:`held_out_loss`; lower fits better)."""

    metric: str  # "dense" or "diagonal"
    dense_loss: float
    diagonal_loss: float

    @property
    def note(self) -> str:
        return (f"{self.metric} (held-out loss {self.dense_loss:.4g} dense, "
                f"{self.diagonal_loss:.4g} diagonal)")


def slow_windows(warmup: int) -> list[tuple[int, int]]:
    """The warm-up iterations (first, last; 0-based) of NumPyro's windows that adapt the
    metric, in order (none for a short warm-up)."""
    schedule = build_adaptation_schedule(warmup) if warmup > 0 else []
    return [(int(first), int(last)) for first, last in schedule[1:-1]]


def _regularised_cov(draws: np.ndarray) -> np.ndarray:
    n = len(draws)
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    return (n / (n + _SHRINK_DRAWS)) * cov + \
        _SHRINK_TO * (_SHRINK_DRAWS / (n + _SHRINK_DRAWS)) * np.eye(cov.shape[0])


def held_out_loss(metric: np.ndarray, covariance: np.ndarray) -> float:
    """How badly the Gaussian with covariance ``metric`` (an inverse mass matrix), at its best
    scale, fits draws of covariance ``covariance`` that it was not estimated from: the held-out
    negative log-likelihood per draw, up to constants, ``d log(tr(M^-1 C) / d) + log det M``.
    NUTS adapts its step size to the scale, so the scale is left free."""
    lower = np.linalg.cholesky(metric)
    d = metric.shape[0]
    trace = np.trace(np.linalg.solve(lower.T, np.linalg.solve(lower, covariance)))
    return float(d * np.log(trace / d) + 2 * np.sum(np.log(np.diag(lower))))


def _losses(metric: np.ndarray, held_out: np.ndarray) -> tuple[float, float]:
    return (held_out_loss(metric, held_out),
            held_out_loss(np.diag(np.diag(metric)), held_out))


def choose_metric(window_draws: np.ndarray, metrics: np.ndarray) -> MetricChoice:
    """Dense or diagonal, from the draws of a slow window ``(chains, n, d)`` and each chain's
    dense inverse mass matrix estimated from them ``(chains, d, d)``."""
    chains = window_draws.shape[0]
    centred = window_draws - window_draws.mean(axis=1, keepdims=True)
    losses = []
    try:
        if chains > 1:
            for c in range(chains):
                others = np.concatenate([centred[o] for o in range(chains) if o != c])
                losses.append(_losses(metrics[c], np.atleast_2d(np.cov(others, rowvar=False))))
        else:
            half = window_draws.shape[1] // 2
            a, b = window_draws[0, :half], window_draws[0, half:]
            for fit, test in ((a, b), (b, a)):
                losses.append(_losses(_regularised_cov(fit),
                                      np.atleast_2d(np.cov(test, rowvar=False))))
    except np.linalg.LinAlgError:  # a metric that is not positive definite: keep NumPyro's
        return MetricChoice("dense", float("nan"), float("nan"))
    dense, diagonal = (float(np.median(v)) for v in zip(*losses, strict=True))
    return MetricChoice("diagonal" if diagonal < dense else "dense", dense, diagonal)
