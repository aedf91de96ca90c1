"""Optimisation and approximation diagnostics that several backends share.

- Finding the posterior mode: :func:`map_objective` (the function maximised, with or without
  the log-Jacobian), :func:`lbfgs_minimiser` (the L-BFGS driver, also used to find the modes
  that NUTS and HMC start from) and :func:`find_mode` (L-BFGS or Adam from several starts);
  :func:`find_model_mode` finds a model's, with the data an argument of a program compiled
  once per model and data shapes.
- The Laplace approximation at a mode: :func:`laplace_precision_factor` (a model's:
  :func:`model_precision_factor`) and :func:`laplace_covariance`, and the errors for when
  there is no mode
  (:func:`no_mode_error`) or no approximation (:func:`not_definite_error`).
- :func:`pareto_k`: the PSIS k-hat that says whether an approximation (ADVI's family, the
  Laplace Gaussian) is usable as an importance-sampling proposal.

The ``map``, ``smc`` and ``advi`` backends and the mode-based starting points of
:mod:`ppl.backends.base` use these; no backend imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error

OPTIMIZERS = ("lbfgs", "adam")
# The most steps per start when find_mode is not told.
_DEFAULT_STEPS = {"lbfgs": 1000, "adam": 10_000}


def map_objective(model: CompiledModel, jacobian: bool = True) -> Callable[[jax.Array], jax.Array]:
    """The function of ``u`` whose maximum is the mode: the log-density, with or without the
    log |Jacobian| terms."""
    if jacobian:
        return model.log_density

    def objective(u: jax.Array) -> jax.Array:
        prior, lik = model.log_density_parts(u, jacobian=False)
        return prior + lik

    return objective


def lbfgs_minimiser(fun: Callable, max_steps: int, tol: float) -> Callable:
    """Minimise ``fun`` from one start: ``x0 -> (x, value, steps, converged)``.

    The step, its zoom line search and the cached value and gradient are optax's
    (``optax.lbfgs``, ``value_and_grad_from_state``, ``optax.tree_utils``); what is ours is the
    ``while_loop`` around them, which optax leaves to its users (its documentation writes the
    same loop), with the stopping rules the backends document: a gradient below ``tol`` or a
    relative change of the objective under ten machine epsilons."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)

    def run(x0: jax.Array):
        ftol = 10 * jnp.finfo(x0.dtype).eps

        def step(carry):
            x, state, _, _ = carry
            value, grad = value_and_grad(x, state=state)
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
            x = optax.apply_updates(x, updates)
            new = otu.tree_get(state, "value")
            stalled = jnp.abs(value - new) <= ftol * jnp.maximum(jnp.abs(new), 1.0)
            return x, state, new, stalled

        def going(carry):
            _, state, value, stalled = carry
            count = otu.tree_get(state, "count")
            grad = otu.tree_get(state, "grad")
            small = jnp.max(jnp.abs(grad)) < tol
            return (count == 0) | ((count < max_steps) & ~small & ~stalled
                                   & jnp.isfinite(value))

        state = opt.init(x0)
        carry = (x0, state, jnp.asarray(jnp.inf, x0.dtype), jnp.asarray(False))
        x, state, value, stalled = jax.lax.while_loop(going, step, carry)
        grad = otu.tree_get(state, "grad")
        converged = (jnp.max(jnp.abs(grad)) < tol) | stalled
        return x, value, otu.tree_get(state, "count"), converged & jnp.isfinite(value)

    return run


def _adam_one(fun: Callable, max_steps: int, tol: float, learning_rate: float) -> Callable:
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, max_steps))
    value_and_grad = jax.value_and_grad(fun)

    def run(x0: jax.Array):
        def step(carry):  # value and grad in the carry are those at x, so the stop is exact
            x, state, count, _, grad = carry
            updates, state = opt.update(grad, state, x)
            x = optax.apply_updates(x, updates)
            value, grad = value_and_grad(x)
            return x, state, count + 1, value, grad

        def going(carry):
            _, _, count, value, grad = carry
            return (count < max_steps) & (jnp.max(jnp.abs(grad)) >= tol) & jnp.isfinite(value)

        value, grad = value_and_grad(x0)
        carry = (x0, opt.init(x0), jnp.asarray(0, jnp.int32), value, grad)
        x, _, count, _, _ = jax.lax.while_loop(going, step, carry)
        value, grad = value_and_grad(x)
        return x, value, count, (jnp.max(jnp.abs(grad)) < tol) & jnp.isfinite(value)

    return run


def _mode_search(objective: Callable, optimizer: str, steps: int, tol: float,
                 learning_rate: float) -> Callable:
    """``(starts, data) -> (xs, values, steps, converged)`` per start, jitted: ``objective(u,
    data)`` maximised from each row of ``starts``, the data an argument of the program."""

    def search(starts: jax.Array, data: Any):
        def fun(u):
            return -objective(u, data)

        if optimizer == "lbfgs":
            # One start after another: a vmapped L-BFGS (nested line-search loops) takes about
            # three times as long to compile, and each run is short.
            return jax.lax.map(lbfgs_minimiser(fun, steps, tol), starts)
        return jax.vmap(_adam_one(fun, steps, tol, learning_rate))(starts)

    return jax.jit(search)


def _best_start(xs, values, counts, converged) -> dict[str, Any]:
    finite = np.all(np.isfinite(np.asarray(xs)), axis=1)
    objectives = np.where(finite, -np.asarray(values), -np.inf)
    objectives = np.where(np.isfinite(objectives), objectives, -np.inf)
    best = int(np.argmax(objectives))
    return {"mode": xs[best], "objective": float(objectives[best]), "steps": int(counts[best]),
            "converged": bool(converged[best]), "start_objectives": objectives}


def find_mode(objective: Callable[[jax.Array], jax.Array], starts: jax.Array, *,
              optimizer: str = "lbfgs", max_steps: int | None = None, tol: float = 1e-6,
              learning_rate: float = 0.05) -> dict[str, Any]:
    """Maximise ``objective`` from each row of ``starts``. Returns the best point
    ``mode`` with its ``objective``, ``steps`` and ``converged``, and every start's
    ``start_objectives``. Compiled at every call: a model's mode is found by
    :func:`find_model_mode`, whose program is compiled once per model and data shapes."""
    steps = max_steps or _DEFAULT_STEPS[optimizer]
    search = _mode_search(lambda u, _: objective(u), optimizer, steps, tol, learning_rate)
    return _best_start(*search(starts, {}))


def find_model_mode(model: CompiledModel, starts: jax.Array, *, jacobian: bool = True,
                    optimizer: str = "lbfgs", max_steps: int | None = None, tol: float = 1e-6,
                    learning_rate: float = 0.05) -> dict[str, Any]:
    """:func:`find_mode` of :func:`map_objective`, with the model's data an argument of the
    compiled program: one program per model, data shapes and settings, reused for new data
    of the same shapes."""
    steps = int(max_steps or _DEFAULT_STEPS[optimizer])
    settings = (bool(jacobian), optimizer, steps, float(tol), float(learning_rate))
    search = model.program(("mode",) + settings, lambda: _mode_search(
        map_objective_with(model, jacobian), optimizer, steps, tol, learning_rate))
    return _best_start(*search(starts, model.traced_data))


def map_objective_with(model: CompiledModel, jacobian: bool = True) -> Callable:
    """:func:`map_objective` as a function of ``(u, data)``: the traced data (see
    :attr:`~ppl.codegen.model.CompiledModel.traced_data`) given, for compiled programs that
    take them as an argument."""
    def objective(u: jax.Array, data: Any) -> jax.Array:
        return map_objective(model.with_data(data), jacobian)(u)

    return objective


def _precision_factor(objective: Callable) -> Callable:
    """``(mode, data) -> L``, jitted: the lower Cholesky factor of ``-H``, ``H`` the Hessian
    of ``objective(u, data)`` in ``u``."""

    def factor(mode: jax.Array, data: Any) -> jax.Array:
        hessian = jax.hessian(objective)(mode, data)
        return jnp.linalg.cholesky(-0.5 * (hessian + hessian.T))

    return jax.jit(factor)


def laplace_precision_factor(objective: Callable[[jax.Array], jax.Array],
                             mode: jax.Array) -> jax.Array:
    """The lower Cholesky factor ``L`` of the precision ``-H`` (Hessian of ``objective`` at
    ``mode``); NaN where ``-H`` is not positive definite. Compiled at every call; see
    :func:`model_precision_factor` for a model's."""
    return _precision_factor(lambda u, _: objective(u))(mode, {})


def model_precision_factor(model: CompiledModel, mode: jax.Array,
                           jacobian: bool = True) -> jax.Array:
    """:func:`laplace_precision_factor` of :func:`map_objective` at ``mode``, compiled once
    per model and data shapes with the data an argument of the program."""
    factor = model.program(("precision_factor", bool(jacobian)), lambda: _precision_factor(
        map_objective_with(model, jacobian)))
    return factor(mode, model.traced_data)


def laplace_covariance(objective: Callable[[jax.Array], jax.Array],
                       mode: jax.Array) -> jax.Array:
    """The Laplace covariance ``(-H)^-1`` on the unconstrained space."""
    chol = laplace_precision_factor(objective, mode)
    eye = jnp.eye(mode.shape[0], dtype=mode.dtype)
    inv = jax.scipy.linalg.solve_triangular(chol, eye, lower=True)
    return inv.T @ inv


def not_definite_error(model: CompiledModel) -> SamplingError:
    """The error for a mode where the Laplace approximation does not exist (``-H`` is not
    positive definite)."""
    return SamplingError([error(
        "the Laplace approximation is not defined: the Hessian of the log-density at the mode "
        "is not negative definite (a flat direction or a saddle point)",
        hint="check that every parameter is identified by the prior or the data, or use "
             "backend='advi' or 'nuts'")], model.graph.source)


def no_mode_error(model: CompiledModel) -> SamplingError:
    """The error for an optimisation that found no finite log-density from any start."""
    return SamplingError([error(
        "the optimiser found no point with a finite log-density from any start",
        hint="with jacobian=False the posterior may have no mode (e.g. a hierarchical scale "
             "going to 0); try jacobian=True, more num_starts, or optimizer='adam'")],
        model.graph.source)


def pareto_k(log_weights: np.ndarray) -> float:
    """PSIS k-hat of importance log-weights: -inf when they are constant (the approximation is
    exact), inf when a weight is infinite, NaN when it cannot be computed. Draws where the
    log-density is -inf or NaN have weight zero and do not enter the tail fit."""
    values = np.asarray(log_weights, dtype=float).ravel()
    if np.any(values == np.inf):
        return float("inf")
    values = values[np.isfinite(values)]
    if values.size < 10:
        return float("nan")
    if np.ptp(values) <= 1e-8 * max(1.0, abs(float(np.mean(values)))):
        return float("-inf")
    try:
        from arviz_stats.base import array_stats

        # psislw takes log-likelihood-like values: the log-weights' negatives (as in LOO)
        return float(array_stats.psislw(-values, r_eff=1, axis=-1)[1])
    except Exception:  # noqa: BLE001 - a diagnostic only; never fail a fit over it
        return float("nan")
