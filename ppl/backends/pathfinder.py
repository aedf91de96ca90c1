"""Multi-path Pathfinder (BlackJAX): L-BFGS paths, Gaussian approximations, importance resampling.

Each path runs L-BFGS on the log-density from its own random starting point (uniform(-2, 2) on
the unconstrained space, as for the MCMC backends) and keeps the Gaussian approximation along
its optimisation path with the highest ELBO (single-path Pathfinder, Zhang et al. 2022,
Algorithm 1). BlackJAX's ``pathfinder.approximate`` runs the path and picks the approximation;
the options' defaults are ours, chosen on the conformance regressions (see ``FTOL``). The paths
run vectorised with ``jax.vmap``; ``draws_per_path`` draws are taken
from each approximation and the pooled draws are importance-resampled with Pareto-smoothed
weights ``p(u) / q_path(u)`` (multi-path Pathfinder, Algorithm 2). The Pareto ``k`` of the
weights is recorded in the attributes (``pareto_k``; above 0.7 the approximation is poor).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.diagnostics import psis_weights
from blackjax.vi.pathfinder import approximate, sample

from ppl.backends.base import BackendResult, RunSettings, finite_initial_points
from ppl.backends.options import (
    BOOL,
    FLOAT,
    INT,
    Option,
    at_least,
    describe_options,
    validate_options,
)
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings


def _invalid(message: str, hint: str) -> SamplingError:
    return SamplingError([error(message, hint=hint)])


# L-BFGS stops when an iteration changes the objective by less than ftol relative to its size:
# 10^4 machine epsilons, Stan's tol_rel_obj. BlackJAX's 1e-5 stopped a path at the first
# iteration that gained under 0.02 nats on kidiq (|log p| ~ 1900): in the slow, narrow valley
# of a badly scaled regression that is far from the mode, and the means were 3 to 8 posterior
# sds off (benchmarks/bench_pathfinder.py).
FTOL = 1e4 * 2.220446049250313e-16
# maxcor 20 (was 10) and maxiter 1000 (was 200, Stan's default) were chosen by the same
# benchmark: with ftol above, maxcor 20 gave the lower Pareto k on 5 of 6 regressions.

OPTIONS: tuple[Option, ...] = (
    Option("num_paths", INT, None, at_least(1), doc="by default one per chain"),
    Option("draws_per_path", INT, 1000, at_least(1),
           doc="draws from each path's approximation"),
    Option("maxiter", INT, 1000, at_least(1), doc="the most L-BFGS iterations per path"),
    Option("maxcor", INT, 20, at_least(1), doc="L-BFGS's history size"),
    Option("num_elbo_draws", INT, 25, at_least(1),
           doc="draws per ELBO estimate along the path"),
    Option("gtol", FLOAT, 1e-8, at_least(0), doc="L-BFGS's gradient tolerance"),
    Option("ftol", FLOAT, FTOL, at_least(0), doc="L-BFGS's relative objective tolerance"),
    Option("importance_resampling", BOOL, True,
           doc="resample the pooled draws by Pareto-smoothed importance weights"),
)
"""The options of the ``pathfinder`` backend (the keyword arguments of
:func:`run_pathfinder`)."""


def _paths_program(log_density: Callable, paths: int, per_path: int, maxiter: int, maxcor: int,
                   num_elbo_draws: int, gtol: float, ftol: float) -> Callable:
    """``(key, starts, data) -> (elbo, draws, log_p, log_ratio)``, jitted: every path from its
    start, vectorised, with ``log_density(u, data)`` the target and the data an argument of
    the program; the draws pooled, with their log-densities and log importance ratios."""

    def run_paths(key, starts, data):
        def target(u):
            return log_density(u, data)

        def one_path(key, start):
            approx_key, sample_key = jax.random.split(key)
            state, _ = approximate(approx_key, target, start, num_elbo_draws,
                                   maxiter=maxiter, maxcor=maxcor, gtol=gtol, ftol=ftol)
            draws, log_q = sample(sample_key, state, per_path)
            return state.elbo, draws, jax.vmap(target)(draws), log_q

        elbo, draws, log_p, log_q = jax.vmap(one_path)(jax.random.split(key, paths), starts)
        ok = jnp.isfinite(elbo)[:, None] & jnp.isfinite(log_p) & jnp.isfinite(log_q)
        log_ratio = jnp.where(ok, log_p - log_q, -jnp.inf)
        return elbo, draws.reshape(paths * per_path, -1), log_p.ravel(), log_ratio.ravel()

    return jax.jit(run_paths)


def run_pathfinder(model: CompiledModel, settings: RunSettings, *,
                   num_paths: int | None = None, draws_per_path: int = 1000,
                   maxiter: int = 1000, maxcor: int = 20, num_elbo_draws: int = 25,
                   gtol: float = 1e-8, ftol: float = FTOL,
                   importance_resampling: bool = True) -> BackendResult:
    """Run multi-path Pathfinder and return ``chains * draws`` approximate posterior draws.

    ``num_paths`` defaults to ``settings.chains``. With ``importance_resampling=False`` the
    draws are taken uniformly from the paths' pooled draws (no weighting). The options are those
    of :data:`OPTIONS`, already checked (the backend's ``run`` checks them).
    """
    paths = int(settings.chains if num_paths is None else num_paths)
    per_path = int(draws_per_path)
    maxiter = int(maxiter)
    maxcor = int(maxcor)
    num_elbo_draws = int(num_elbo_draws)
    n_out = settings.chains * settings.draws

    init_key, path_key, pick_key = jax.random.split(jax.random.PRNGKey(settings.seed), 3)
    starts = finite_initial_points(model, init_key, paths)

    path_settings = (paths, per_path, maxiter, maxcor, num_elbo_draws, float(gtol), float(ftol))
    run_paths = model.program(("pathfinder",) + path_settings,
                              lambda: _paths_program(model.log_density_with, *path_settings))

    # BlackJAX's L-BFGS sampling broadcasts across ranks; allow it even where JAX is set strict.
    with jax.numpy_rank_promotion("allow"):
        elbo, pool, log_p, log_ratio = run_paths(path_key, starts, model.traced_data)
    elbo = np.asarray(elbo)
    usable = np.isfinite(np.asarray(log_ratio))
    if not usable.any():
        raise _invalid("Pathfinder failed: no path found a usable normal approximation",
                       "the log-density may be unbounded or non-finite along the optimisation "
                       "path; try more paths, another seed or the nuts backend")
    if importance_resampling:
        with jax.numpy_rank_promotion("allow"):
            log_w, pareto_k = jax.jit(psis_weights)(jnp.where(usable, log_ratio, -jnp.inf))
        probs = np.exp(np.asarray(log_w, dtype=np.float64))
    else:
        pareto_k = jnp.asarray(jnp.nan)
        probs = usable.astype(np.float64)
    probs = np.where(np.isfinite(probs), probs, 0.0)
    probs /= probs.sum()
    pick = jax.random.choice(pick_key, probs.shape[0], (n_out,), replace=True,
                             p=jnp.asarray(probs))
    pick = np.asarray(pick)
    shape = (settings.chains, settings.draws)
    positions = np.asarray(pool)[pick].reshape(shape + (model.dimension,))
    stats = {"lp": np.asarray(log_p)[pick].reshape(shape),
             "log_importance_ratio": np.asarray(log_ratio)[pick].reshape(shape)}
    k = float(pareto_k)  # above 0.7 the summary warns (ppl.summary), as for ADVI
    attrs: dict[str, Any] = {
        "num_paths": paths, "draws_per_path": per_path, "maxiter": maxiter, "maxcor": maxcor,
        "num_elbo_draws": num_elbo_draws, "importance_resampling": int(importance_resampling),
        "pareto_k": k if math.isfinite(k) else float("nan"),
        "path_elbo": [float(e) for e in elbo],
        "num_failed_paths": int(np.sum(~np.isfinite(elbo))),
    }
    return BackendResult(positions, stats, attrs=attrs)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class Pathfinder:
    """The ``pathfinder`` backend: multi-path Pathfinder variational inference (BlackJAX)."""

    name = "pathfinder"
    description = ("multi-path Pathfinder (BlackJAX): L-BFGS normal approximations from several "
                   "starts, combined by Pareto-smoothed importance resampling; "
                   + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        """Run :func:`run_pathfinder` with ``options``, checked against :data:`OPTIONS`."""
        return run_pathfinder(model, settings, **validate_options(self.name, options, OPTIONS))


__all__ = ["OPTIONS", "Pathfinder", "run_pathfinder"]
