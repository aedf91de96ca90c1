"""Posterior mode (MAP) by optimisation with optax, and the Laplace approximation around it.

The log-density is maximised on the flat unconstrained space with L-BFGS (``optax.lbfgs`` with
its zoom line search; ``optimizer="lbfgs"``, the default) or Adam (``optimizer="adam"``, with a
cosine-decayed ``learning_rate`` so the last steps settle on the optimum), from ``num_starts``
random uniform(-2, 2) starting points (default: ``settings.chains``), all in one compiled call
(``lax.while_loop`` per start; L-BFGS runs the starts one after another with ``lax.map``, Adam
vmaps them); the start with the highest objective wins. An optimisation stops when the largest
absolute gradient component is below ``tol``, when an L-BFGS step changes the objective by less
than ten machine epsilons relative to its size, or after ``max_steps`` (default 1000 for L-BFGS,
10000 for Adam).

Which mode: ``jacobian=True`` (default) maximises the unconstrained log-density, log |Jacobian|
of the constraining transforms included: the mode of the density that the samplers and the
Laplace approximation live on. For a positive parameter this is *not* the mode of its own
posterior (for ``lambda ~ gamma(a, b)`` alone it is ``a / b``, not ``(a - 1) / b``).
``jacobian=False`` leaves the Jacobian out and so maximises the plain log posterior of the
constrained values: the MAP estimate Stan's ``optimize`` reports (and the penalised maximum
likelihood estimate), ``(a - 1) / b`` above. Without the Jacobian a posterior may have no
interior mode: a hierarchical scale (eight schools' ``tau``) then runs to 0, where the gradient
on the unconstrained space vanishes too, so the fit reports convergence with the scale at ~0.

Output: with ``laplace=False`` (default) the posterior holds the mode as one chain of one draw
(shape (1, 1, dimension), whatever ``chains`` and ``draws`` are): a point estimate, with no
spread to summarise; the ``posterior_predictive`` group is then one data set simulated at the
mode. With ``laplace=True`` the posterior is ``chains * draws`` independent draws from the
Gaussian ``N(mode, (-H)^-1)`` on the unconstrained space, ``H`` being the Hessian (``jax.hessian``)
of the optimised objective at the mode (so, as in Stan, with or without the Jacobian as chosen);
the draws are then constrained like any other backend's, so positive parameters get a
log-normal approximation and so on. ``sample_stats`` has ``lp`` (the log-density with Jacobian)
and, for Laplace draws, ``log_weight`` = ``lp - log q``; the attribute ``map_pareto_k`` (PSIS
k-hat of those weights) says whether the Gaussian is a usable approximation (below 0.7).

Other attributes: ``map_objective`` (the optimised objective at the mode), ``map_converged``
(0/1), ``map_steps``, ``map_start_objectives`` (each start's final objective, so several
distinct values point at several modes), ``map_starts_at_best`` and the settings.
``settings.warmup`` is unused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

from ppl.backends.advi import pareto_k
from ppl.backends.base import BackendResult, RunSettings, finite_initial_points
from ppl.backends.options import (
    BOOL,
    FLOAT,
    INT,
    Option,
    at_least,
    choice,
    describe_options,
    positive,
    validate_options,
)
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error

OPTIMIZERS = ("lbfgs", "adam")
_DEFAULT_STEPS = {"lbfgs": 1000, "adam": 10_000}


@dataclass(frozen=True)
class MAPOptions:
    """The options of the ``map`` backend (see the module docstring)."""

    optimizer: str = "lbfgs"
    num_starts: int | None = None
    max_steps: int | None = None
    tol: float = 1e-6
    learning_rate: float = 0.05
    laplace: bool = False
    jacobian: bool = True


OPTIONS: tuple[Option, ...] = (
    Option("optimizer", choice(*OPTIMIZERS), "lbfgs"),
    Option("num_starts", INT, None, at_least(1),
           doc="random starting points; by default one per chain"),
    Option("max_steps", INT, None, at_least(1),
           doc="the most steps per start; by default 1000 for lbfgs and 10000 for adam"),
    Option("tol", FLOAT, 1e-6, positive(),
           doc="converged when the largest gradient component is below tol"),
    Option("learning_rate", FLOAT, 0.05, positive(), doc="Adam's initial step size"),
    Option("laplace", BOOL, False, doc="draw from the Laplace approximation at the mode"),
    Option("jacobian", BOOL, True, doc="include the log-Jacobian of the constraining transforms"),
)
"""The options of the ``map`` backend (the fields of :class:`MAPOptions`)."""


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
    """Minimise ``fun`` from one start: ``x0 -> (x, value, steps, converged)``."""
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


def find_mode(objective: Callable[[jax.Array], jax.Array], starts: jax.Array, *,
              optimizer: str = "lbfgs", max_steps: int | None = None, tol: float = 1e-6,
              learning_rate: float = 0.05) -> dict[str, Any]:
    """Maximise ``objective`` from each row of ``starts``. Returns the best point
    ``mode`` with its ``objective``, ``steps`` and ``converged``, and every start's
    ``start_objectives``."""
    steps = max_steps or _DEFAULT_STEPS[optimizer]

    def fun(u):
        return -objective(u)

    one = (lbfgs_minimiser(fun, steps, tol) if optimizer == "lbfgs"
           else _adam_one(fun, steps, tol, learning_rate))
    if optimizer == "lbfgs":
        # One start after another: a vmapped L-BFGS (nested line-search loops) takes about
        # three times as long to compile, and each run is short.
        xs, values, counts, converged = jax.jit(lambda s: jax.lax.map(one, s))(starts)
    else:
        xs, values, counts, converged = jax.jit(jax.vmap(one))(starts)
    finite = np.all(np.isfinite(np.asarray(xs)), axis=1)
    objectives = np.where(finite, -np.asarray(values), -np.inf)
    objectives = np.where(np.isfinite(objectives), objectives, -np.inf)
    best = int(np.argmax(objectives))
    return {"mode": xs[best], "objective": float(objectives[best]), "steps": int(counts[best]),
            "converged": bool(converged[best]), "start_objectives": objectives}


def laplace_precision_factor(objective: Callable[[jax.Array], jax.Array],
                             mode: jax.Array) -> jax.Array:
    """The lower Cholesky factor ``L`` of the precision ``-H`` (Hessian of ``objective`` at
    ``mode``); NaN where ``-H`` is not positive definite."""
    hessian = jax.jit(jax.hessian(objective))(mode)
    precision = -0.5 * (hessian + hessian.T)
    return jnp.linalg.cholesky(precision)


def laplace_covariance(objective: Callable[[jax.Array], jax.Array],
                       mode: jax.Array) -> jax.Array:
    """The Laplace covariance ``(-H)^-1`` on the unconstrained space."""
    chol = laplace_precision_factor(objective, mode)
    eye = jnp.eye(mode.shape[0], dtype=mode.dtype)
    inv = jax.scipy.linalg.solve_triangular(chol, eye, lower=True)
    return inv.T @ inv


def _not_definite(model: CompiledModel) -> SamplingError:
    return SamplingError([error(
        "the Laplace approximation is not defined: the Hessian of the log-density at the mode "
        "is not negative definite (a flat direction or a saddle point)",
        hint="check that every parameter is identified by the prior or the data, or use "
             "backend='advi' or 'nuts'")], model.graph.source)


def _no_mode(model: CompiledModel) -> SamplingError:
    return SamplingError([error(
        "the optimiser found no point with a finite log-density from any start",
        hint="with jacobian=False the posterior may have no mode (e.g. a hierarchical scale "
             "going to 0); try jacobian=True, more num_starts, or optimizer='adam'")],
        model.graph.source)


class MAP:
    name = "map"
    description = ("posterior mode by optimisation (optax L-BFGS or Adam, several starts) with "
                   "an optional Laplace approximation; " + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        opts = MAPOptions(**validate_options(self.name, options, OPTIONS))
        num_starts = opts.num_starts if opts.num_starts is not None else settings.chains
        init_key, draw_key = jax.random.split(jax.random.PRNGKey(settings.seed))
        starts = finite_initial_points(model, init_key, int(num_starts))
        objective = map_objective(model, bool(opts.jacobian))
        found = find_mode(objective, starts, optimizer=opts.optimizer,
                          max_steps=opts.max_steps, tol=opts.tol,
                          learning_rate=opts.learning_rate)
        if not np.isfinite(found["objective"]):
            raise _no_mode(model)
        mode = found["mode"]
        values = found["start_objectives"]
        close = np.abs(values - found["objective"]) <= 1e-6 * max(1.0, abs(found["objective"]))
        attrs = {
            "map_optimizer": opts.optimizer, "map_jacobian": int(bool(opts.jacobian)),
            "map_laplace": int(bool(opts.laplace)), "map_objective": found["objective"],
            "map_converged": int(found["converged"]), "map_steps": found["steps"],
            "map_num_starts": int(num_starts), "map_start_objectives": values.tolist(),
            "map_starts_at_best": int(close.sum()), "map_tol": float(opts.tol),
        }
        if not opts.laplace:
            lp = float(model.log_density(mode))
            return BackendResult(positions=np.asarray(mode).reshape(1, 1, -1),
                                 sample_stats={"lp": np.full((1, 1), lp)}, attrs=attrs)

        chol = laplace_precision_factor(objective, mode)
        if not bool(jnp.all(jnp.isfinite(chol))):
            raise _not_definite(model)
        n = settings.chains * settings.draws
        d = model.dimension

        @jax.jit
        def draw(mode, chol, key):
            eps = jax.random.normal(key, (n, d), mode.dtype)
            # u = mode + L^-T eps has covariance (L L^T)^-1 = (-H)^-1
            z = mode[None, :] + jax.scipy.linalg.solve_triangular(chol.T, eps.T, lower=False).T
            log_q = (-0.5 * jnp.sum(eps ** 2, axis=1) + jnp.sum(jnp.log(jnp.diag(chol)))
                     - 0.5 * d * jnp.log(2 * jnp.pi))
            return z, jax.vmap(model.log_density)(z), log_q

        z, log_p, log_q = (np.asarray(a) for a in draw(mode, chol, draw_key))
        log_w = log_p - log_q
        attrs["map_pareto_k"] = pareto_k(log_w)
        shape = (settings.chains, settings.draws)
        return BackendResult(positions=z.reshape(shape + (d,)),
                             sample_stats={"lp": log_p.reshape(shape),
                                           "log_weight": log_w.reshape(shape)},
                             attrs=attrs)


__all__ = ["MAP", "MAPOptions", "OPTIONS", "find_mode", "laplace_covariance",
           "laplace_precision_factor", "map_objective"]
