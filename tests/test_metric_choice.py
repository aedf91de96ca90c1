"""The warm-up chooses the dense metric or its diagonal from its own draws
(ppl/backends/metric_choice.py): the choice follows the posterior's correlations, and a chain
switched to the diagonal metric still samples the posterior."""

from __future__ import annotations

import numpy as np
import pytest
from mcse_support import moment_errors

import ppl
from ppl.backends.metric_choice import (
    choose_metric,
    held_out_loss,
    slow_windows,
)


def _window(covariance: np.ndarray, chains: int, n: int, seed: int) -> tuple:
    """Draws of a window from N(0, covariance) and each chain's regularised estimate of it
    (NumPyro's: shrunk towards 1e-3 I with the weight of 5 draws)."""
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(np.zeros(len(covariance)), covariance, size=(chains, n))
    metrics = np.stack([(n / (n + 5)) * np.cov(d, rowvar=False) + 1e-3 * 5 / (n + 5)
                        * np.eye(len(covariance)) for d in draws])
    return draws, metrics


def _correlated(d: int, rho: float, scales: np.ndarray) -> np.ndarray:
    corr = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    return corr * np.outer(scales, scales)


def test_the_windows_are_numpyros_middle_ones():
    assert slow_windows(1000) == [(75, 99), (100, 149), (150, 249), (250, 449), (450, 949)]
    assert slow_windows(0) == []
    assert slow_windows(20) == [(3, 17)]
    assert slow_windows(19) == []  # a short warm-up adapts no metric


def test_held_out_scores_prefer_the_metric_that_whitens_the_draws():
    cov = _correlated(3, 0.9, np.array([1.0, 10.0, 0.1]))
    diagonal = np.diag(np.diag(cov))
    # the scale is free: a multiple of the true covariance scores as well as itself
    assert held_out_loss(4.0 * cov, cov) == pytest.approx(held_out_loss(cov, cov))
    # d log(tr(M^-1 C) / d) + log det M at M = C: d log 1 + log det C
    assert held_out_loss(cov, cov) == pytest.approx(np.log(np.linalg.det(cov)))
    assert held_out_loss(cov, cov) < held_out_loss(diagonal, cov)


@pytest.mark.parametrize("chains", [1, 4])
def test_independent_coordinates_in_many_dimensions_choose_the_diagonal(chains):
    """51 independent coordinates of unequal scales, 100 draws a chain: the dense estimate is
    mostly noise, and predicts held-out draws worse than its diagonal."""
    scales = np.geomspace(0.1, 10, 51)
    draws, metrics = _window(np.diag(scales**2), chains, 100 * (4 // chains), seed=0)
    choice = choose_metric(draws, metrics)
    assert choice.metric == "diagonal"
    assert choice.diagonal_loss < choice.dense_loss


@pytest.mark.parametrize("chains", [1, 4])
def test_correlated_coordinates_choose_the_dense_metric(chains):
    draws, metrics = _window(_correlated(5, 0.95, np.geomspace(0.1, 10, 5)), chains,
                             25 * (4 // chains), seed=1)
    assert choose_metric(draws, metrics).metric == "dense"


def test_a_metric_that_is_not_positive_definite_keeps_the_dense_one():
    draws, metrics = _window(np.eye(3), 4, 25, seed=2)
    metrics[1] = -np.eye(3)
    assert choose_metric(draws, metrics).metric == "dense"


INDEPENDENT = """
data s: vector[30]
x: vector[30] ~ normal(0, s)
"""
CORRELATED = """
data N: int
data x: vector[N]
data y: vector[N]
a ~ normal(0, 100)
b ~ normal(0, 100)
sigma ~ exponential(1)
y ~ normal(a + b * x, sigma)
"""


def _fit(src, data, **options):
    return ppl.model(src).sample(data, chains=4, draws=1000, warmup=1000, seed=3, **options)


def test_a_switched_run_samples_the_posterior_within_mcse():
    """Thirty independent normals of scales 0.1-10: the warm-up switches to the diagonal
    metric, and every mean and sd is within 4.5 Monte Carlo standard errors (ArviZ's, for the
    mean and for the sd) of the truth."""
    scales = np.geomspace(0.1, 10, 30)
    fit = _fit(INDEPENDENT, {"s": scales})
    assert fit.attrs["metric"].startswith("diagonal") and fit.attrs["dense_mass"] == 0
    mean_error, sd_error = moment_errors(fit, "x", 0.0, scales)
    assert mean_error < 4.5 and sd_error < 4.5, (mean_error, sd_error)


def test_a_correlated_posterior_keeps_the_dense_metric_and_dense_mass_true_is_not_measured():
    rng = np.random.default_rng(0)
    x = rng.normal(100, 1, size=50)  # far from 0: a and b are correlated (about -0.9999)
    data = {"N": 50, "x": x, "y": 3 + 0.5 * x + rng.normal(0, 1, size=50)}
    fit = _fit(CORRELATED, data)
    assert fit.attrs["metric"].startswith("dense") and fit.attrs["dense_mass"] == 1
    forced = _fit(CORRELATED, data, dense_mass=True)
    assert "metric" not in forced.attrs and forced.attrs["dense_mass"] == 1
