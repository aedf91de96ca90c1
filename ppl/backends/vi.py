"""Programmable variational inference: a variational family written in the language (a
*guide*), fitted with optax by one of four objectives, with a gradient estimator per latent.

The guide (option ``guide``: a path or the text; ``ppl run --guide guide.ppl``) declares its
variational parameters with ``param`` and gives every latent of the model a distribution with
``~``, by the model's names (see :mod:`ppl.codegen.guide` and docs/language.md). It is compiled
against the model bound to its data; a guide that leaves out a latent, names one the model does
not have, or gives one another shape or support is a located error.

Objectives (``objective``): ``"elbo"``, ``"iwelbo"`` (``num_importance`` draws per estimate),
``"renyi"`` (``alpha``) and ``"forward_kl"`` (the reweighted wake-sleep q-update); gradient
estimators (``estimators``: a mapping latent -> ``"reparam"``, ``"implicit"``, ``"score"`` or
``"enumerate"``, the rest chosen automatically): see :mod:`ppl.backends.vi_objectives`.
``num_mc`` independent estimates are averaged per step.

Discrete latents of the *model* are summed out of its log density exactly, as for every
backend (the enumeration estimator, exact and with no variance), so the guide leaves them out:
each draw of q gets a draw of them from their conditional posterior when the results are made.
A discrete ``~`` in the guide on a name the model does not have is an auxiliary variable of q
(a mixture's component), summed out of ``log q`` and enumerated or score-function estimated.

Optimisation: Adam (``learning_rate``) in compiled chunks of ``check_every`` steps; after each
chunk the mean of the per-step bound estimates is compared with the previous chunk's: a
*plateau* is a relative change below ``tol`` or a change within twice its Monte Carlo
standard error. On a plateau the step size is halved; the fit has converged at the
``plateaus``-th plateau, else stops after ``max_steps``. The returned parameters are the average
of the iterates since the last plateau. Parameters start where their unconstrained value is 0
(0, 1 for a positive parameter, the middle of an interval) unless ``init`` gives values.

Results (as the ``advi`` backend's): ``chains * draws`` independent draws of q in ``posterior``
(the chain dimension is a reshaping), ``sample_stats`` with ``lp`` and ``log_weight``
(``log p - log q``), the group ``vi_trace`` (``objective`` and ``elbo`` per step), the group
``vi_params`` (the fitted variational parameters, constrained), and the attributes ``vi_elbo``,
``vi_objective``, ``vi_steps``, ``vi_converged``, ``vi_pareto_k`` (PSIS k-hat of the
log-weights), ``vi_estimators`` (JSON: latent -> estimator) and the settings.
``settings.warmup`` is unused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints

from ppl.backends.base import BackendResult, RunSettings
from ppl.backends.optimise import pareto_k
from ppl.backends.options import (
    FLOAT,
    INT,
    Kind,
    Option,
    at_least,
    choice,
    describe_options,
    is_number,
    positive,
    validate_options,
)
from ppl.backends.plateaus import fit_summary, optimise_until_plateaus
from ppl.backends.vi_objectives import (
    OBJECTIVES,
    choose_estimators,
    enumeration_grid,
    make_loss,
    parse_estimators,
)
from ppl.codegen.guide import CompiledGuide, compile_guide, reparameterisable
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings
from ppl.library.distributions import DISTRIBUTIONS


@dataclass(frozen=True)
class VIOptions:
    """The options of the ``vi`` backend (see the module docstring)."""

    guide: Any = None
    objective: str = "elbo"
    estimators: Any = None
    num_mc: int = 8
    num_importance: int = 8
    alpha: float = 0.5
    learning_rate: Any = 0.02
    max_steps: int = 20_000
    check_every: int = 200
    tol: float = 1e-3
    plateaus: int = 3
    init: Any = None


def _is_guide(value: Any) -> bool:
    from pathlib import Path

    return isinstance(value, (str, Path))


def _is_estimators(value: Any) -> bool:
    return isinstance(value, (str, Mapping))


_ONE_OR_MORE = at_least(1)
LEARNING_RATE = Kind("a number > 0 or an optax schedule",
                     lambda v: callable(v) or (is_number(v) and v > 0))

OPTIONS: tuple[Option, ...] = (
    Option("guide", Kind("a path to a guide file or the guide's text", _is_guide), None,
           doc="the variational family, written in the language (required)"),
    Option("objective", choice(*OBJECTIVES), "elbo", doc="the objective that is optimised"),
    Option("estimators", Kind("a mapping latent -> estimator, or 'name:estimator,...'",
                              _is_estimators), None,
           doc="gradient estimator per latent (reparam, implicit, score, enumerate); "
               "automatic for the others"),
    Option("num_mc", INT, 8, _ONE_OR_MORE, doc="independent estimates per step"),
    Option("num_importance", INT, 8, _ONE_OR_MORE,
           doc="importance draws per estimate (iwelbo, renyi, forward_kl)"),
    Option("alpha", FLOAT, 0.5, doc="the Renyi bound's alpha"),
    Option("learning_rate", LEARNING_RATE, 0.02, doc="Adam's step size"),
    Option("max_steps", INT, 20_000, _ONE_OR_MORE, doc="the most optimisation steps"),
    Option("check_every", INT, 200, _ONE_OR_MORE, doc="steps between convergence checks"),
    Option("tol", FLOAT, 1e-3, positive(),
           doc="a plateau is a relative change of the bound below tol"),
    Option("plateaus", INT, 3, _ONE_OR_MORE, doc="plateaus until the fit has converged"),
    Option("init", Kind("a mapping parameter -> initial value", lambda v: isinstance(
        v, Mapping)), None, doc="initial values of the guide's parameters (default: 0 "
                                "unconstrained)"),
)
"""The options of the ``vi`` backend (the fields of :class:`VIOptions`)."""


def _bad(message: str, hint: str) -> SamplingError:
    return SamplingError([error(message, hint=hint)])


def fit(loss, init_raw: dict, key: jax.Array, data: tuple, *, learning_rate: Any,
        max_steps: int, check_every: int, tol: float, plateaus: int, dtype=jnp.float64
        ) -> dict[str, Any]:
    """Maximise the objective whose surrogate is ``loss(raw, key, *data)`` with Adam, in
    compiled chunks of ``check_every`` steps, halving the step size at each plateau (see
    :mod:`ppl.backends.plateaus`, shared with ``advi``). Returns ``params`` (averaged since the
    last plateau), ``steps``, ``converged``, ``objective`` (the last chunk's mean) and the
    per-step traces. A guide without parameters (``init_raw`` empty) is a fixed q: its bound
    is estimated until it settles."""

    def run(raw, key, data):
        return optimise_until_plateaus(
            jax.value_and_grad(lambda p, k: loss(p, k, *data), has_aux=True), raw, key, dtype,
            learning_rate=learning_rate, max_steps=max_steps, check_every=check_every,
            tol=tol, plateaus=plateaus)

    return fit_summary(jax.jit(run)(init_raw, key, data), check_every, plateaus)


def _support_values(dist, spec) -> np.ndarray | None:
    """The values (in the language's numbering) of a discrete distribution with a finite
    support, or None."""
    constraint = dist.support
    lo, hi = getattr(constraint, "lower_bound", None), getattr(constraint, "upper_bound", None)
    if constraint is constraints.boolean:
        lo, hi = 0, 1
    if lo is None or hi is None or np.ndim(lo) or np.ndim(hi):
        return None
    return np.arange(int(lo), int(hi) + 1) + (1 if spec.one_based else 0)


def estimator_plan(guide: CompiledGuide, raw: dict, objective: str, given: Any
                   ) -> tuple[dict[str, str], list[dict[str, int]]]:
    """The estimator of every variable of the guide and the enumeration grid."""
    dists = guide.distributions(raw)
    rsample = {n: reparameterisable(d) for n, d in dists.items()}
    values = {}
    for name in guide.auxiliary:
        spec = DISTRIBUTIONS[guide.program.graph[name].sample.dist.func]
        found = _support_values(dists[name], spec) if not guide.program.graph[name].type.shape \
            else None
        if found is not None:
            values[name] = found
    sizes = {n: len(v) for n, v in values.items()}
    estimators = choose_estimators(guide, rsample, sizes, objective, parse_estimators(given))
    bad = [n for n in guide.auxiliary if estimators[n] == "enumerate" and n not in values]
    if bad:
        raise _bad(f"'{bad[0]}' cannot be enumerated: it is not a scalar with a finite "
                   "support", f"use estimators={{'{bad[0]}': 'score'}}")
    return estimators, enumeration_grid(guide, estimators, values)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class VI:
    name = "vi"
    description = ("programmable variational inference: a guide written in the language "
                   "(option guide), ELBO, IWELBO, Renyi or forward-KL objectives, a gradient "
                   "estimator per latent; " + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        opts = VIOptions(**validate_options(self.name, options, OPTIONS))
        if opts.guide is None:
            raise _bad("the vi backend needs a guide",
                       "pass guide='guide.ppl' (or the guide's text); on the command line "
                       "--guide guide.ppl")
        if opts.num_mc < 2 and opts.objective != "forward_kl":
            raise _bad("num_mc must be 2 or more for the vi backend",
                       "the score-function baseline of each estimate is the mean of the "
                       "others; use num_mc=8")
        guide = compile_guide(model, opts.guide)
        raw = guide.initial_params(opts.init)
        estimators, grid = estimator_plan(guide, raw, opts.objective, opts.estimators)
        loss = make_loss(model, guide, estimators, grid, objective=opts.objective,
                         alpha=opts.alpha, num_mc=opts.num_mc,
                         num_importance=opts.num_importance)
        fit_key, draw_key = jax.random.split(jax.random.PRNGKey(settings.seed))
        data = (model.traced_data, guide.traced_data)
        result = fit(loss, raw, fit_key, data, learning_rate=opts.learning_rate,
                     max_steps=opts.max_steps, check_every=opts.check_every, tol=opts.tol,
                     plateaus=opts.plateaus, dtype=model.dtype)
        params = result["params"]
        if not all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)):
            raise _bad("the variational fit diverged: its parameters are not finite",
                       "try a smaller learning_rate, initial values (init=...) closer to the "
                       "posterior, or the 'nuts' backend")
        n = settings.chains * settings.draws
        z, log_p, log_w = (np.asarray(a) for a in _draws(model, guide, params, draw_key, n,
                                                         data))
        shape = (settings.chains, settings.draws)
        constrained = guide.constrained_params(params, guide.traced_data)
        attrs = {"vi_family": "guide", "vi_guide": guide.program.graph.source.text,
                 "vi_objective_kind": opts.objective,
                 "vi_estimators": json.dumps(estimators), "vi_num_mc": int(opts.num_mc),
                 "vi_steps": result["steps"], "vi_converged": int(result["converged"]),
                 "vi_objective": result["objective"], "vi_elbo": float(np.mean(log_w)),
                 "vi_pareto_k": pareto_k(log_w), "vi_tol": float(opts.tol)}
        if opts.objective != "elbo":
            attrs["vi_num_importance"] = int(opts.num_importance)
        if opts.objective == "renyi":
            attrs["vi_alpha"] = float(opts.alpha)
        return BackendResult(
            positions=z.reshape(shape + (model.dimension,)),
            sample_stats={"lp": log_p.reshape(shape), "log_weight": log_w.reshape(shape)},
            extra_groups={"vi_trace": {"objective": result["objective_trace"][None, :],
                                       "elbo": result["elbo_trace"][None, :]},
                          "vi_params": {k: np.asarray(v)[None, None]
                                        for k, v in constrained.items()}},
            attrs=attrs)


def _draws(model: CompiledModel, guide: CompiledGuide, params, key, n: int, data):
    """``n`` draws of q: their unconstrained positions for the model, the model's
    log-density there (with Jacobian), and the log-weights ``log p - log q``."""
    def one(raw, key, mdata, gdata):
        draw = guide.sample(raw, key, gdata)
        latents = {name: draw.values[name] for name in guide.latents}
        bound = model.with_data(mdata)
        u = bound.unconstrain(latents)
        log_w = bound.constrained_log_density(latents) - draw.log_q
        return u, bound.log_density(u), log_w

    program = jax.jit(jax.vmap(one, in_axes=(None, 0, None, None)))
    return program(params, jax.random.split(key, n), *data)


__all__ = ["OPTIONS", "VI", "VIOptions", "estimator_plan", "fit"]
