"""Stochastic optimisation of a variational bound until it stops improving, shared by the
``advi`` and ``vi`` backends.

Adam runs in compiled chunks of ``check_every`` steps. After each chunk the chunk's mean bound
is compared with the previous one's: a change below ``tol`` (relative) or within two standard
errors of the noise is a plateau, which halves the step size and restarts Adam's moments; the
fit stops after ``plateaus`` of them or at ``max_steps`` (rounded up to whole chunks). The
parameters returned are the Polyak average of the iterates since the last plateau.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def window_stats(values: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The mean of the finite ``values`` and the squared standard error of that mean."""
    finite = jnp.isfinite(values)
    count = jnp.maximum(jnp.sum(finite), 1)
    mean = jnp.sum(jnp.where(finite, values, 0.0)) / count
    var = jnp.sum(jnp.where(finite, (values - mean) ** 2, 0.0)) / jnp.maximum(count - 1, 1)
    return mean, var / count


def optimise_until_plateaus(grad_fn: Callable, params: Any, key: jax.Array, dtype, *,
                            learning_rate: Any, max_steps: int, check_every: int, tol: float,
                            plateaus: int) -> tuple:
    """The optimisation's final carry, to be traced inside the caller's compiled program.

    ``grad_fn(params, key) -> ((loss, (objective, elbo)), gradients)``: the gradient of the
    loss (the negated surrogate of the bound) with the bound's value and the ELBO estimate of
    this step, recorded in the traces. Read the carry with :func:`fit_summary`."""
    optimizer = optax.apply_if_finite(optax.adam(learning_rate), max_consecutive_errors=50)
    chunks = -(-max_steps // check_every)

    def step(carry, _):
        params, state, key, total, scale = carry
        key, sub = jax.random.split(key)
        (_, (value, elbo)), grads = grad_fn(params, sub)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, jax.tree.map(lambda x: scale * x, updates))
        total = jax.tree.map(jnp.add, total, params)
        # The bound may come out wider than a float32 model's dtype (64-bit constants).
        return (params, state, key, total, scale), (value.astype(dtype), elbo.astype(dtype))

    def chunk(carry):
        i, params, tail, state, key, trace, elbo_trace, previous, scale, flat = carry
        zeros = jax.tree.map(jnp.zeros_like, params)
        (params, state, key, total, _), (values, elbos) = jax.lax.scan(
            step, (params, state, key, zeros, scale), None, length=check_every)
        average = jax.tree.map(lambda t: t / check_every, total)
        trace = jax.lax.dynamic_update_slice(trace, values, (i * check_every,))
        elbo_trace = jax.lax.dynamic_update_slice(elbo_trace, elbos, (i * check_every,))
        mean, se2 = window_stats(values)
        change = jnp.abs(mean - previous[0])
        plateau = (i > 0) & ((change < tol * jnp.maximum(jnp.abs(mean), 1.0))
                             | (change < 2.0 * jnp.sqrt(se2 + previous[1])))
        scale = jnp.where(plateau, 0.5 * scale, scale)
        # A fresh Adam state with the halved step: its second-moment estimate no longer
        # remembers the large early gradients that would otherwise stall slow directions.
        fresh = optimizer.init(params)
        state = jax.tree.map(lambda f, o: jnp.where(plateau, f, o), fresh, state)
        # Polyak averaging of the iterates since the last plateau (before the first one, of
        # the last chunk only): the returned parameters.
        tail_sum, tail_n = tail
        tail = jax.lax.cond(flat > 0,
                            lambda: (jax.tree.map(jnp.add, tail_sum, average), tail_n + 1),
                            lambda: (average, jnp.asarray(1, jnp.int32)))
        flat = flat + plateau.astype(jnp.int32)
        # The last chunk that max_steps allows keeps its average: restarting there would
        # leave nothing to average (0 / 0, reported as a diverged fit).
        restart = plateau & (flat < plateaus) & (i + 1 < chunks)
        tail = jax.lax.cond(restart,
                            lambda: (jax.tree.map(jnp.zeros_like, average),
                                     jnp.asarray(0, jnp.int32)),
                            lambda: tail)
        return i + 1, params, tail, state, key, trace, elbo_trace, (mean, se2), scale, flat

    def going(carry):
        i, flat = carry[0], carry[-1]
        return (i < chunks) & (flat < plateaus)

    empty = jnp.full((chunks * check_every,), jnp.nan, dtype)
    zero = jnp.asarray(0, jnp.int32)
    carry = (zero, params, (params, zero), optimizer.init(params), key, empty, empty,
             (jnp.asarray(jnp.inf, dtype), jnp.zeros((), dtype)), jnp.ones((), dtype), zero)
    return jax.lax.while_loop(going, chunk, carry)


def fit_summary(carry: tuple, check_every: int, plateaus: int) -> dict[str, Any]:
    """What :func:`optimise_until_plateaus` found: ``params`` (averaged since the last
    plateau), ``steps``, ``converged``, ``objective`` (the last chunk's mean) and the per-step
    traces ``objective_trace`` and ``elbo_trace``."""
    i, _, (tail_sum, tail_n), _, _, trace, elbo_trace, (mean, _), _, flat = carry
    steps = int(i) * check_every
    return {"params": jax.tree.map(lambda t: t / tail_n, tail_sum), "steps": steps,
            "converged": bool(int(flat) >= plateaus), "objective": float(mean),
            "objective_trace": np.asarray(trace[:steps]),
            "elbo_trace": np.asarray(elbo_trace[:steps])}
