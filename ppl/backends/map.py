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

from ppl.backends.base import BackendResult, RunSettings, finite_initial_points
from ppl.backends.optimise import (
    OPTIMIZERS,
    find_model_mode,
    model_precision_factor,
    no_mode_error,
    not_definite_error,
    pareto_k,
)
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
from ppl.jax_settings import in_ppl_settings


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


def laplace_draws(model: CompiledModel, n: int) -> Callable:
    """``(mode, chol, key, data) -> (u, log p(u), log q(u))``, jitted: ``n`` draws ``u`` of
    the Gaussian ``N(mode, (L L^T)^-1)`` (``chol`` is ``L``), with the model's log-density
    at each, the data an argument of the program."""
    d = model.dimension

    def draw(mode, chol, key, data):
        eps = jax.random.normal(key, (n, d), mode.dtype)
        # u = mode + L^-T eps has covariance (L L^T)^-1 = (-H)^-1
        z = mode[None, :] + jax.scipy.linalg.solve_triangular(chol.T, eps.T, lower=False).T
        log_q = (-0.5 * jnp.sum(eps ** 2, axis=1) + jnp.sum(jnp.log(jnp.diag(chol)))
                 - 0.5 * d * jnp.log(2 * jnp.pi))
        return z, jax.vmap(lambda u: model.log_density_with(u, data))(z), log_q

    return jax.jit(draw)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
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
        found = find_model_mode(model, starts, jacobian=bool(opts.jacobian),
                                optimizer=opts.optimizer, max_steps=opts.max_steps,
                                tol=opts.tol, learning_rate=opts.learning_rate)
        if not np.isfinite(found["objective"]):
            raise no_mode_error(model)
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
            lp = float(model.jitted_log_density(mode))
            return BackendResult(positions=np.asarray(mode).reshape(1, 1, -1),
                                 sample_stats={"lp": np.full((1, 1), lp)}, attrs=attrs)

        chol = model_precision_factor(model, mode, bool(opts.jacobian))
        if not bool(jnp.all(jnp.isfinite(chol))):
            raise not_definite_error(model)
        n = settings.chains * settings.draws
        d = model.dimension
        draw = model.program(("laplace_draws", n), lambda: laplace_draws(model, n))
        z, log_p, log_q = (np.asarray(a) for a in draw(mode, chol, draw_key,
                                                       model.traced_data))
        log_w = log_p - log_q
        attrs["map_pareto_k"] = pareto_k(log_w)
        shape = (settings.chains, settings.draws)
        return BackendResult(positions=z.reshape(shape + (d,)),
                             sample_stats={"lp": log_p.reshape(shape),
                                           "log_weight": log_w.reshape(shape)},
                             attrs=attrs)


__all__ = ["MAP", "MAPOptions", "OPTIONS"]
