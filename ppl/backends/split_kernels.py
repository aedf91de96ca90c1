"""The small MCMC kernels of the ``split_gibbs`` backend: Hamiltonian Monte Carlo with a fixed
number of leapfrog steps in coordinates whitened by a dense precision matrix, and dual-averaging
adaptation of its step size (Hoffman and Gelman 2014, Algorithm 5).

The conditionals the split Gibbs sampler draws from are close to Gaussian with a precision the
backend knows in advance (a shard's Laplace precision plus the coupling's, see
:mod:`ppl.backends.split_gibbs`), so a static trajectory in whitened coordinates mixes them in a
few transitions; NUTS's tree building would cost more than it saves for such short runs between
rounds of communication.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

# Leapfrog steps per transition: a trajectory of about pi/2 in whitened coordinates at the
# step size the adaptation usually finds there (0.3 to 0.5).
LEAPFROG_STEPS = 4
TARGET_ACCEPT = 0.8


def hmc_transitions(log_target: Callable, key, z, chol, step_size, transitions: int,
                    leapfrog: int = LEAPFROG_STEPS):
    """``transitions`` HMC transitions of one chain from ``z`` for ``log_target(z)``, with the
    metric of the precision matrix ``chol @ chol.T``: returns the last position and the mean
    acceptance probability. A non-finite proposal is rejected."""

    def in_z(x):
        return solve_triangular(chol.T, x, lower=False)

    value_and_grad = jax.value_and_grad(lambda x: log_target(in_z(x)))

    def one(x, key):
        momentum_key, accept_key = jax.random.split(key)
        p0 = jax.random.normal(momentum_key, x.shape, x.dtype)
        v0, g0 = value_and_grad(x)

        def leap(carry, _):
            y, p, g = carry
            p = p + 0.5 * step_size * g
            y = y + step_size * p
            v, g = value_and_grad(y)
            p = p + 0.5 * step_size * g
            return (y, p, g), v

        (y, p, _), values = jax.lax.scan(leap, (x, p0, g0), None, length=leapfrog)
        log_ratio = values[-1] - 0.5 * p @ p - v0 + 0.5 * p0 @ p0
        log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
        accept = jnp.log(jax.random.uniform(accept_key, (), x.dtype)) < log_ratio
        return jnp.where(accept, y, x), jnp.minimum(1.0, jnp.exp(log_ratio))

    x, probabilities = jax.lax.scan(one, chol.T @ z, jax.random.split(key, transitions))
    return in_z(x), jnp.mean(probabilities)


def precision_factor(precision: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a symmetric ``precision``, its eigenvalues clipped from
    below at 1e-8 of the largest (a flat direction keeps a finite metric)."""
    symmetric = 0.5 * (precision + precision.T)
    values, vectors = np.linalg.eigh(symmetric)
    values = np.maximum(values, 1e-8 * max(float(values.max()), 1e-300))
    return np.linalg.cholesky((vectors * values) @ vectors.T)


@dataclass(frozen=True)
class DualAveraging:
    """Step-size adaptation by dual averaging towards ``TARGET_ACCEPT`` (Hoffman and Gelman's
    constants gamma 0.05, t0 10, kappa 0.75)."""

    mu: float
    log_step: float
    log_step_bar: float = 0.0
    h_bar: float = 0.0
    count: int = 0

    @staticmethod
    def start(step_size: float) -> DualAveraging:
        """The adaptation from ``step_size``."""
        return DualAveraging(math.log(10 * step_size), math.log(step_size), math.log(step_size))

    def update(self, accept: float) -> DualAveraging:
        """After a round whose mean acceptance probability was ``accept``."""
        count = self.count + 1
        accept = accept if math.isfinite(accept) else 0.0
        h_bar = (1 - 1 / (count + 10)) * self.h_bar + (TARGET_ACCEPT - accept) / (count + 10)
        log_step = self.mu - math.sqrt(count) / 0.05 * h_bar
        eta = count ** -0.75
        return replace(self, log_step=log_step, h_bar=h_bar, count=count,
                       log_step_bar=eta * log_step + (1 - eta) * self.log_step_bar)

    @property
    def step_size(self) -> float:
        """The step size to use during adaptation."""
        return math.exp(self.log_step)

    @property
    def final_step_size(self) -> float:
        """The step size to use after adaptation (the averaged iterate)."""
        return math.exp(self.log_step_bar)


__all__ = ["DualAveraging", "LEAPFROG_STEPS", "TARGET_ACCEPT", "hmc_transitions",
           "precision_factor"]
