"""Objectives and gradient estimators of programmable variational inference (the ``vi``
backend), over a guide compiled by :mod:`ppl.codegen.guide`.

With importance weights ``log w = log p(z, data) - log q(z)`` (both on the latents' own
supports, so the transforms' Jacobians cancel), ``num_mc`` independent rows of ``K`` draws:

- ``"elbo"``: ``E_q[log w]`` (K = 1).
- ``"iwelbo"``: ``E[log (1/K) sum_k w_k]`` (Burda et al. 2016).
- ``"renyi"``: ``1/(1-alpha) E[log (1/K) sum_k w_k^(1-alpha)]`` (Li & Turner 2016).
- ``"forward_kl"``: the q-update of reweighted wake-sleep (Bornschein & Bengio 2015; Le et
  al. 2019): ``sum_k wt_k d/dphi log q(z_k)`` at fixed draws, ``wt = softmax(log w)``, which
  follows the gradient of ``-KL(p || q)`` (biased for finite K, as self-normalised importance
  sampling is, consistent as K grows); mass-covering. Its reported bound is the IWELBO.

Estimators, per latent of the guide (Becker et al. 2024's programmable estimators, here as a
choice per ``~`` statement):

- ``"reparam"``: the draw is a differentiable function of the parameters and noise (a
  location-scale map: normal, lognormal, ...).
- ``"implicit"``: the same for gamma, beta, Dirichlet, Student-t and the families built on
  gamma draws, whose derivative comes from implicit differentiation of the CDF
  (``jax.random.gamma``'s gradient, Figurnov et al. 2018): unbiased like the acceptance-rejection
  reparameterisation of Naesseth et al. (2017), without its score-function correction term.
- ``"score"``: the draw's gradient is stopped and the row's objective ``L`` multiplies the
  gradient of the draw's log density given its parents (REINFORCE), with a leave-one-out
  baseline, the mean of ``L`` over the other ``num_mc - 1`` rows (independent of the row, so
  the estimator stays unbiased; it needs ``num_mc >= 2``).
- ``"enumerate"``: for a discrete auxiliary variable of the guide (a mixture's component), the
  expectation over it is a sum over its values, weighted by ``q`` of each value (ELBO only:
  the other bounds are not linear in that expectation).

Every surrogate's gradient is an unbiased estimate of the objective's gradient (except
``forward_kl``'s, see above), checked against closed forms in ``tests/test_guide_vi.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ppl.codegen.guide import IMPLICIT_FAMILIES, CompiledGuide
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error

OBJECTIVES = ("elbo", "iwelbo", "renyi", "forward_kl")
ESTIMATORS = ("reparam", "implicit", "score", "enumerate")
# Enumerate the auxiliary variables of a guide when all their joint values number at most this.
ENUMERATE_UP_TO = 64


def objective_alpha(objective: str, alpha: float) -> float:
    """The Rényi alpha each bound is a case of (ELBO 1, IWELBO and forward KL's report 0)."""
    return {"elbo": 1.0, "iwelbo": 0.0, "forward_kl": 0.0}.get(objective, float(alpha))


def row_bound(log_w: jax.Array, alpha: float) -> jax.Array:
    """The Rényi bound of each row of log-weights (rows, K) -> (rows,)."""
    if alpha == 1.0:
        return jnp.mean(log_w, axis=-1)
    k = log_w.shape[-1]
    return (jax.nn.logsumexp((1 - alpha) * log_w, axis=-1) - math.log(k)) / (1 - alpha)


def leave_one_out(values: jax.Array) -> jax.Array:
    """Each entry's baseline: the mean of the other entries (0 for a single entry)."""
    n = values.shape[0]
    if n < 2:
        return jnp.zeros_like(values)
    return (jnp.sum(values) - values) / (n - 1)


def _bad(message: str, hint: str) -> SamplingError:
    return SamplingError([error(message, hint=hint)])


def parse_estimators(given) -> dict[str, str]:
    """``estimators`` as a mapping latent -> estimator; the command line's text form is
    ``"mu:reparam,tau:score"``."""
    if given is None or given == "auto":
        return {}
    if isinstance(given, str):
        pairs = [item.partition(":") for item in given.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise _bad(f"estimators must be 'name:estimator,...', not {given!r}",
                       "e.g. -o estimators=mu:reparam,tau:score")
        return {name.strip(): value.strip() for name, _, value in pairs}
    return {str(k): str(v) for k, v in dict(given).items()}


def choose_estimators(guide: CompiledGuide, rsample: Mapping[str, bool],
                      support_sizes: Mapping[str, int], objective: str,
                      given: Mapping[str, str]) -> dict[str, str]:
    """The estimator of every latent and auxiliary variable of the guide: ``given`` where
    set, else automatic (reparam, implicit for gamma-based families, score where the family
    has no differentiable sampler; auxiliary variables enumerated for the ELBO when their
    joint values number at most ``ENUMERATE_UP_TO``, else score)."""
    names = guide.latents + guide.auxiliary
    problems = []
    for name, value in given.items():
        if name not in names:
            problems.append(error(f"estimators names '{name}', which the guide does not draw",
                                  hint=f"the guide draws: {', '.join(names)}"))
        elif value not in ESTIMATORS and value != "auto":
            problems.append(error(f"unknown estimator '{value}' for '{name}'",
                                  hint=f"use one of: {', '.join(ESTIMATORS)}"))
        elif value in ("reparam", "implicit") and not rsample.get(name, False):
            problems.append(error(
                f"'{name}' ~ {guide.families.get(name, 'its distribution')} has no "
                "differentiable sampler, so it cannot be reparameterised",
                hint=f"use estimators={{'{name}': 'score'}}"))
        elif value == "enumerate" and name not in guide.auxiliary:
            problems.append(error(
                f"'{name}' cannot be enumerated: only discrete auxiliary variables of the "
                "guide can", hint="use 'reparam', 'implicit' or 'score' for a latent"))
        elif value == "enumerate" and objective != "elbo":
            problems.append(error(
                f"enumerating '{name}' needs objective='elbo' (the {objective} bound is not "
                "linear in the expectation over it)", hint=f"use estimators={{'{name}': "
                "'score'}} or objective='elbo'"))
    if objective == "forward_kl" and any(v not in ("auto", "score") for v in given.values()):
        problems.append(error(
            "objective='forward_kl' differentiates log q at fixed draws: it takes no "
            "estimators", hint="leave estimators out"))
    if problems:
        raise SamplingError(problems)
    total = math.prod(support_sizes.get(a, ENUMERATE_UP_TO + 1) for a in guide.auxiliary)
    chosen = {}
    for name in names:
        value = given.get(name, "auto")
        if value == "auto":
            if name in guide.auxiliary:
                value = "enumerate" if objective == "elbo" and total <= ENUMERATE_UP_TO \
                    else "score"
            elif not rsample.get(name, False):
                value = "score"
            else:
                value = "implicit" if guide.families[name] in IMPLICIT_FAMILIES else "reparam"
        chosen[name] = value
    return chosen


def enumeration_grid(guide: CompiledGuide, estimators: Mapping[str, str],
                     values: Mapping[str, np.ndarray]) -> list[dict[str, int]]:
    """Every joint value of the enumerated auxiliary variables (``values``: each one's
    possible values)."""
    names = [a for a in guide.auxiliary if estimators[a] == "enumerate"]
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(values[n] for n in names))]


def make_loss(model: CompiledModel, guide: CompiledGuide, estimators: Mapping[str, str],
              grid: list[dict[str, int]], *, objective: str, alpha: float, num_mc: int,
              num_importance: int) -> Callable:
    """``loss(raw, key, model_data, guide_data) -> (-surrogate, (bound, elbo))`` whose
    gradient in ``raw`` (the unconstrained parameters) is the chosen estimator of minus the
    objective's gradient."""
    a = objective_alpha(objective, alpha)
    k = 1 if objective == "elbo" else num_importance
    forward = objective == "forward_kl"
    stop = frozenset(guide.latents + guide.auxiliary) if forward else \
        frozenset(n for n, e in estimators.items() if e == "score")
    fixed_grid = grid or [{}]

    def one(raw, key, mdata, gdata, fixed):
        draw = guide.sample(raw, key, gdata, stop, fixed)
        latents = {n: draw.values[n] for n in guide.latents}
        log_p = model.with_data(mdata).constrained_log_density(latents)
        return log_p - draw.log_q, draw.log_q, draw.score_terms, draw.aux_terms

    def loss(raw, key, mdata, gdata):
        keys = jax.random.split(key, num_mc * k)
        outs = [jax.vmap(lambda kk, f=fixed: one(raw, kk, mdata, gdata, f))(keys)
                for fixed in fixed_grid]
        log_w, log_q, score, aux = (jnp.stack([o[i] for o in outs]).reshape(
            len(fixed_grid), num_mc, k) for i in range(4))
        stopped = jax.lax.stop_gradient(log_w)
        if forward:
            weights = jax.lax.stop_gradient(jax.nn.softmax(log_w[0], axis=-1))
            surrogate = jnp.sum(weights * log_q[0]) / num_mc
            bound = jnp.mean(row_bound(stopped[0], a))
            return -surrogate, (bound, jnp.mean(stopped[0]))
        rows = row_bound(log_w, a)  # (grid, num_mc)
        signal = jax.lax.stop_gradient(rows)
        baseline = jax.vmap(leave_one_out)(signal)
        per_row = rows + (signal - baseline) * jnp.sum(score, axis=-1)
        if grid:  # enumerated: each value's row weighted by its probability under q
            weight = jnp.exp(aux[..., 0])
            surrogate = jnp.mean(jnp.sum(weight * per_row, axis=0))
            value = jnp.mean(jnp.sum(jax.lax.stop_gradient(weight) * signal, axis=0))
            return -surrogate, (value, value)
        return -jnp.mean(per_row), (jnp.mean(signal), jnp.mean(stopped))

    return loss


__all__ = ["ENUMERATE_UP_TO", "ESTIMATORS", "OBJECTIVES", "choose_estimators",
           "enumeration_grid", "leave_one_out", "make_loss", "objective_alpha",
           "parse_estimators", "row_bound"]
