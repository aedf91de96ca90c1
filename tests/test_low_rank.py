"""NUTS with ``adaptation="low_rank"`` (nutpie's metric through BlackJAX, ppl/backends/low_rank.py):
draws of a known correlated Gaussian within Monte Carlo error, fewer leapfrog steps than a
diagonal metric where the posterior is stretched along a few directions, and its options."""

from __future__ import annotations

import numpy as np
import pytest

import ppl
from ppl.errors import SamplingError

GAUSSIAN = """
data D: int
data m: vector[D]
data S: cov_matrix[D]
x: vector[D] ~ multi_normal(m, S)
"""
D = 8


def _target() -> dict:
    """A Gaussian stretched along two directions (sd 6 and 3) and scaled per coordinate."""
    rng = np.random.default_rng(11)
    u, v = rng.standard_normal((2, D))
    u, v = u / np.linalg.norm(u), v - (v @ u) * u / (u @ u)
    v /= np.linalg.norm(v)
    scales = np.linspace(0.5, 2.0, D)
    cov = np.diag(scales) @ (0.3 * np.eye(D) + 36 * np.outer(u, u) + 9 * np.outer(v, v)) \
        @ np.diag(scales)
    return {"D": D, "m": np.linspace(-3, 3, D).tolist(), "S": cov.tolist()}


def _fit(**options):
    return ppl.model(GAUSSIAN).sample(_target(), chains=4, draws=1000, warmup=1000, seed=5,
                                      chain_method="vectorized", **options)


@pytest.fixture(scope="module")
def low_rank_fit():
    return _fit(adaptation="low_rank")


def test_low_rank_draws_match_the_gaussian_within_monte_carlo_error(low_rank_fit):
    import arviz_stats as azs

    data = _target()
    x = low_rank_fit["posterior"]["x"]
    posterior = low_rank_fit["posterior"].to_dataset()
    mean_se = np.asarray(azs.mcse(posterior, method="mean")["x"])
    sd_se = np.asarray(azs.mcse(posterior, method="sd")["x"])
    mean = np.asarray(x.mean(("chain", "draw")))
    sd = np.asarray(x.std(("chain", "draw")))
    assert np.all(np.abs(mean - np.asarray(data["m"])) < 4 * mean_se), (mean, mean_se)
    true_sd = np.sqrt(np.diag(np.asarray(data["S"])))
    assert np.all(np.abs(sd - true_sd) < 4 * sd_se + 1e-3), (sd, true_sd, sd_se)
    assert not np.asarray(low_rank_fit["sample_stats"]["diverging"]).any()
    assert low_rank_fit.attrs["adaptation"] == "low_rank"
    assert low_rank_fit.attrs["chain_method"] == "vectorized"


def test_low_rank_takes_fewer_leapfrog_steps_than_a_diagonal_metric(low_rank_fit):
    """Two stretched directions: a diagonal metric needs long trajectories to cross them, the
    low-rank correction learns them."""
    diagonal = _fit(dense_mass=False)
    steps = {name: float(np.asarray(fit["sample_stats"]["n_steps"]).mean())
             for name, fit in [("low_rank", low_rank_fit), ("diagonal", diagonal)]}
    assert steps["low_rank"] < 0.5 * steps["diagonal"], steps


def test_low_rank_with_dense_mass_or_resume_is_an_error_that_says_what_to_do(low_rank_fit):
    with pytest.raises(SamplingError, match="dense_mass=True has no effect with adaptation"):
        _fit(adaptation="low_rank", dense_mass=True)
    with pytest.raises(SamplingError, match="cannot be resumed"):
        ppl.model(GAUSSIAN).resume(low_rank_fit, _target(), draws=10)
    with pytest.raises(SamplingError, match="adaptation must be one of 'windowed', 'low_rank'"):
        _fit(adaptation="lowrank")


def test_new_data_of_the_same_shapes_reuses_the_compiled_low_rank_sampler():
    import logging

    import jax

    class Compilations(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.seen: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Finished XLA compilation"):
                self.seen.append(record.getMessage())

    model = ppl.model(GAUSSIAN)
    run = dict(chains=2, draws=200, warmup=200, seed=1, adaptation="low_rank",
               chain_method="vectorized")
    model.sample(_target(), **run)
    shifted = {**_target(), "m": (np.asarray(_target()["m"]) + 10).tolist()}
    handler, logger = Compilations(), logging.getLogger("jax")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            fit = model.sample(shifted, **run)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert handler.seen == []
    mean = np.asarray(fit["posterior"]["x"].mean(("chain", "draw")))
    # the new data's answer: the old data would put the average 10 lower
    assert abs(np.mean(mean - np.asarray(shifted["m"]))) < 3, mean
