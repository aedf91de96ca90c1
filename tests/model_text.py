"""Helpers that write model source for generated tests."""

from __future__ import annotations

import numpy as np


def declaration(value) -> str:
    """The type that declares ``value`` as data: int or real, scalar, vector or matrix."""
    arr = np.asarray(value)
    is_int = arr.dtype.kind in "iu"
    if arr.ndim == 0:
        return "int" if is_int else "real"
    if arr.ndim == 1:
        return f"int[{arr.shape[0]}]" if is_int else f"vector[{arr.shape[0]}]"
    return f"int[{arr.shape[0]}, {arr.shape[1]}]" if is_int else \
        f"matrix[{arr.shape[0]}, {arr.shape[1]}]"


# A normal mean with a known sd: mu ~ normal(1, 2), ten observations with sd 1.5. Its exact
# posterior is normal with NORMAL_POSTERIOR_MEAN and NORMAL_POSTERIOR_SD.
NORMAL_MEAN_MODEL = """
data N: int
data y: vector[N]
mu ~ normal(1, 2)
y ~ normal(mu, 1.5)
"""
NORMAL_Y = np.array([0.3, 2.1, 1.7, -0.4, 1.2, 2.8, 0.9, 1.5, 0.1, 1.9])
_PRECISION = 1 / 2**2 + len(NORMAL_Y) / 1.5**2
NORMAL_POSTERIOR_MEAN = (1 / 2**2 + NORMAL_Y.sum() / 1.5**2) / _PRECISION
NORMAL_POSTERIOR_SD = _PRECISION**-0.5


# A two-state hidden Markov chain with normal emissions, its states summed out by the forward
# algorithm.
HMM_MODEL = """
data T: int >= 0
data y: real[T]
rho: simplex[2] ~ dirichlet([2, 2])
stay: vector[2] ~ beta(8, 2)
mu: ordered[2] ~ normal(0, 3)
P = [[stay[1], 1 - stay[1]], [1 - stay[2], stay[2]]]
z[t] ~ categorical(if t == 1 then rho else P[z[t - 1]]) for t in 1:T
y[t] ~ normal(mu[z[t]], 1) for t in 1:T
"""
