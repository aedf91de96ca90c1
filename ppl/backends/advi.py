"""Automatic differentiation variational inference (ADVI) on the unconstrained space, with optax.

A variational family ``q_phi`` over the flat unconstrained vector ``u`` is fitted with Adam by
maximising a Monte Carlo bound on ``log p(data)``; the fitted ``q`` is then sampled
``chains * draws`` times, and the draws go through the same constrain / posterior predictive
path as MCMC draws (the chain dimension is a reshaping of i.i.d. draws, not separate fits).

Families (``family=``): ``"meanfield"`` (diagonal Gaussian: location and log-scales) and
``"fullrank"`` (Gaussian with a lower-triangular Cholesky factor whose diagonal is stored as
logs). A family is a small object with ``name``, ``init(loc, scale)`` (a parameter pytree),
``transform(params, eps)`` (standard normal draws to draws of ``q``, differentiable in
``params``) and ``log_prob(params, z)``, so another family, e.g. a normalising flow, can be
passed as ``family=MyFlow()`` (the built-in ones are in :mod:`ppl.backends.advi_families`).
Data are arguments of the compiled programs, and so are the mode and scale of the Laplace
preconditioner found from them: one ``Model`` fitted to new data of the same shapes compiles
nothing (a family object of the user's is part of the programs' key, when it is hashable).

Objectives (``objective=``), with importance weights ``w = p(u, data) / q(u)``,
``K = num_importance`` and ``num_mc`` independent estimates averaged per step:

- ``"elbo"``: ``E_q[log w]`` (``num_importance`` is ignored: K = 1).
- ``"iwelbo"``: importance-weighted ELBO ``E[log (1/K) sum_k w_k]`` (Burda et al. 2016); tighter
  than the ELBO, equal to it for K = 1, and tends to ``log p(data)`` as K grows.
- ``"renyi"``: the variational Rényi bound ``1/(1-alpha) E[log (1/K) sum_k w_k^(1-alpha)]``
  (Li & Turner 2016); ``alpha = 1`` is the ELBO, ``alpha = 0`` the IWELBO, ``0 < alpha < 1``
  in between (mass-covering rather than mode-seeking as alpha decreases).

Gradient estimators: every objective uses reparameterisation gradients (``u = T_phi(eps)``,
``eps ~ N(0, I)``), never score-function ones. ``gradient="dreg"`` (default) is the
doubly-reparameterised estimator: the density ``q`` inside ``log w`` is evaluated with stopped
parameters, so only the path through the draws carries gradient, and each ``log w_k`` is
weighted by
``c_k = wt_k (alpha + (1 - alpha) wt_k)`` with ``wt = softmax((1 - alpha) log w)``. For the ELBO
this is the "sticking the landing" path-derivative estimator (Roeder et al. 2017), for the IWELBO
it is DReG (Tucker et al. 2019, ``c_k = wt_k^2``), and for the Rényi bound the same construction
with the alpha above (derived from Tucker et al.'s identity). It is unbiased for the gradient of
the same bound (checked against ``"reparam"`` by simulation), with lower variance, and its
variance vanishes when ``q`` equals the posterior. ``gradient="reparam"`` is the plain
reparameterisation gradient of the Monte Carlo bound (its total derivative); for the ELBO it
uses the family's closed-form entropy when it has one (the estimator of Kucukelbir et al. 2017,
as in Stan's ADVI). With ``antithetic=True`` (default) the second half of the ``num_mc``
replicates uses ``-eps`` of the first half (each replicate's K draws stay independent): every
replicate is still an unbiased estimate, and the noise of the location gradient cancels where
``grad log p`` is close to linear (exactly for a Gaussian posterior).

Optimisation and convergence: Adam (``learning_rate``, a float or an optax schedule), run as a
``jax.lax.while_loop`` over ``lax.scan`` chunks of ``check_every`` steps, compiled once; steps
with a non-finite bound or gradient are skipped (``optax.apply_if_finite``). After each chunk
the smoothed objective (the chunk's mean of the per-step bound estimates, ``m_i``) is compared
with the previous chunk's: a *plateau* is a relative change ``|m_i - m_{i-1}| / max(|m_i|, 1)``
below ``tol``, or a change within twice its Monte Carlo standard error (the estimates cannot
tell the chunks apart). On a plateau the step size is halved and Adam's moment estimates are
reset (so slow, weakly identified directions keep moving instead of being stalled by memories of
the large early gradients); the fit has converged at the ``plateaus``-th plateau, and otherwise
stops after ``max_steps`` (rounded up to whole chunks, ``vi_converged = 0``). The returned
parameters are the average of the iterates since the last plateau (Polyak averaging), which is
much closer to the optimum than the last, noisy iterate.

Results: ``sample_stats`` has ``lp`` (log-density of each draw) and ``log_weight``
(``log p - log q``); the group ``vi_trace`` holds ``objective`` (the optimised bound) and
``elbo`` (the plain ELBO estimate from the same draws) per optimisation step, stored with dims
``(chain, draw)`` = ``(1, steps)`` so ``draw`` is the step number. Attributes: ``vi_elbo`` (the
ELBO from the posterior draws: the mean log-weight), ``vi_objective`` (the last smoothed bound),
``vi_steps``, ``vi_converged`` (0/1), ``vi_pareto_k`` (the PSIS k-hat of the log-weights, Yao et
al. 2018: below 0.7 the approximation is usable for importance sampling; above it, the posterior
is poorly matched by the family; -inf when the weights are constant, i.e. ``q`` is exact) and
the settings. ``settings.warmup`` is unused.

Options: ``family`` ("auto": full-rank up to ``FULLRANK_UP_TO`` unconstrained dimensions,
mean-field above; chosen by ``benchmarks/bench_pathfinder.py``, where full-rank was within 0.041
posterior sds of every regression posterior's means while mean-field's sds were 50-99 % too
small), ``objective`` ("elbo"), ``num_mc`` (8), ``num_importance`` (8), ``alpha`` (0.5),
``gradient`` ("dreg"), ``antithetic`` (True), ``learning_rate`` (0.02), ``max_steps`` (20000),
``check_every`` (200), ``tol`` (1e-3), ``plateaus`` (3), ``init_scale`` (0.1: the initial scale
of ``q``, centred on a random uniform(-2, 2) point).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.advi_families import (
    FAMILIES,
    Family,
    FullRank,
    MeanField,
    Params,
    Preconditioned,
    family_parts,
    is_family,
    with_parts,
)
from ppl.backends.base import BackendResult, RunSettings, finite_initial_points
from ppl.backends.optimise import find_model_mode, model_precision_factor, pareto_k
from ppl.backends.options import (
    BOOL,
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
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings

# family="auto": full-rank up to this many unconstrained dimensions (its d (d + 1) / 2 scale
# parameters stay cheap), mean-field above.
FULLRANK_UP_TO = 200
OBJECTIVES = ("elbo", "iwelbo", "renyi")
GRADIENTS = ("dreg", "reparam")


@dataclass(frozen=True)
class ADVIOptions:
    """The options of the ``advi`` backend (see the module docstring)."""

    family: Any = "auto"
    objective: str = "elbo"
    num_mc: int = 8
    num_importance: int = 8
    alpha: float = 0.5
    gradient: str = "dreg"
    antithetic: bool = True
    learning_rate: Any = 0.02
    max_steps: int = 20_000
    check_every: int = 200
    tol: float = 1e-3
    plateaus: int = 3
    init_scale: float = 0.1
    init: str = "laplace"


def _family_option(value: Any) -> bool:
    # A string is a family's name, anything else a family object.
    return value in (*FAMILIES, "auto") if isinstance(value, str) else is_family(value)


FAMILY = Kind("'auto', 'meanfield', 'fullrank' or a family object (with name, init, transform "
              "and log_prob)", _family_option, ("auto", *FAMILIES))
# A float is Adam's constant step size; an optax schedule (a function of the step) is called.
LEARNING_RATE = Kind("a number > 0 or an optax schedule",
                     lambda v: callable(v) or (is_number(v) and v > 0))
_ONE_OR_MORE = at_least(1)

OPTIONS: tuple[Option, ...] = (
    Option("family", FAMILY, "auto",
           doc=f"the variational family ('auto': fullrank up to {FULLRANK_UP_TO} dimensions, "
               "meanfield above)"),
    Option("objective", choice(*OBJECTIVES), "elbo", doc="the bound that is maximised"),
    Option("num_mc", INT, 8, _ONE_OR_MORE, doc="Monte Carlo estimates of the bound per step"),
    Option("num_importance", INT, 8, _ONE_OR_MORE,
           doc="importance draws per estimate (iwelbo and renyi)"),
    Option("alpha", FLOAT, 0.5, doc="the Renyi bound's alpha"),
    Option("gradient", choice(*GRADIENTS), "dreg", doc="the gradient estimator"),
    Option("antithetic", BOOL, True, doc="mirror half of the standard normal draws"),
    Option("learning_rate", LEARNING_RATE, 0.02, doc="Adam's step size"),
    Option("max_steps", INT, 20_000, _ONE_OR_MORE, doc="the most optimisation steps"),
    Option("check_every", INT, 200, _ONE_OR_MORE, doc="steps between convergence checks"),
    Option("tol", FLOAT, 1e-3, positive(),
           doc="a plateau is a relative change of the bound below tol"),
    Option("plateaus", INT, 3, _ONE_OR_MORE, doc="plateaus until the fit has converged"),
    Option("init_scale", FLOAT, 0.1, positive(), doc="the initial scale of q (init='random')"),
    Option("init", choice("laplace", "random"), "laplace",
           doc="start from the Laplace approximation or a random point"),
)
"""The options of the ``advi`` backend (the fields of :class:`ADVIOptions`)."""


def _bad_option(message: str, hint: str) -> SamplingError:
    return SamplingError([error(message, hint=hint)])


def resolve_family(family: Any, dimension: int) -> Family:
    """A family object from its name (``"auto"`` by ``dimension``), or the object itself."""
    if family == "auto":
        family = "fullrank" if dimension <= FULLRANK_UP_TO else "meanfield"
    if isinstance(family, str):
        if family not in FAMILIES:
            raise _bad_option(f"unknown variational family '{family}'",
                              f"use one of: {', '.join(FAMILIES)}, or a family object")
        return FAMILIES[family]
    if is_family(family):
        return family
    raise _bad_option(f"{family!r} is not a variational family",
                      "pass 'meanfield', 'fullrank', or an object with name, init, transform "
                      "and log_prob")


def objective_alpha(objective: str, alpha: float) -> float:
    """The Rényi alpha that each objective is a case of (ELBO: 1, IWELBO: 0)."""
    return {"elbo": 1.0, "iwelbo": 0.0}.get(objective, float(alpha))


def bound(log_w: jax.Array, alpha: float) -> jax.Array:
    """The Monte Carlo Rényi bound from log-weights of shape (num_mc, K), averaged over rows."""
    if alpha == 1.0:
        return jnp.mean(log_w)
    k = log_w.shape[-1]
    per_row = (jax.nn.logsumexp((1 - alpha) * log_w, axis=-1) - math.log(k)) / (1 - alpha)
    return jnp.mean(per_row)


def dreg_coefficients(log_w: jax.Array, alpha: float) -> jax.Array:
    """Weights ``c_k`` of the doubly-reparameterised gradient ``sum_k c_k d log w_k / d phi``
    (path derivative only): ``wt_k (alpha + (1 - alpha) wt_k)``, ``wt = softmax((1-alpha) log w)``.
    """
    wt = jax.nn.softmax((1 - alpha) * log_w, axis=-1)
    return wt * (alpha + (1 - alpha) * wt)


def base_draws(key: jax.Array, num_mc: int, k: int, dimension: int, dtype,
               antithetic: bool = True) -> jax.Array:
    """Standard normal draws of shape (num_mc * k, dimension); with ``antithetic`` the second
    half of the ``num_mc`` replicates mirrors the first (``-eps``), each replicate's ``k`` draws
    staying independent."""
    if not antithetic or num_mc < 2:
        return jax.random.normal(key, (num_mc * k, dimension), dtype)
    half = jax.random.normal(key, (-(-num_mc // 2), k, dimension), dtype)
    eps = jnp.concatenate([half, -half])[:num_mc]
    return eps.reshape(num_mc * k, dimension)


def sample(family: Family, params: Params, key: jax.Array, n: int, dimension: int) -> jax.Array:
    """``n`` independent draws from the fitted ``q``, shape (n, dimension)."""
    dtype = jax.tree.leaves(params)[0].dtype
    return family.transform(params, jax.random.normal(key, (n, dimension), dtype))


def make_loss(log_density, family: Family, dimension: int, *, objective: str, alpha: float,
              num_mc: int, num_importance: int, gradient: str, antithetic: bool = True):
    """``loss(params, key) -> (-surrogate, (bound, elbo))`` whose gradient is the chosen
    estimator of minus the bound's gradient."""
    a = objective_alpha(objective, alpha)
    k = 1 if objective == "elbo" else num_importance
    batched = jax.vmap(log_density)

    def loss(params: Params, key: jax.Array):
        dtype = jax.tree.leaves(params)[0].dtype
        eps = base_draws(key, num_mc, k, dimension, dtype, antithetic)
        z = family.transform(params, eps)
        log_p = batched(z)
        if gradient == "dreg":
            log_q = family.log_prob(jax.lax.stop_gradient(params), z)
        else:
            log_q = family.log_prob(params, z)
        log_w = (log_p - log_q).reshape(num_mc, k)
        value = bound(jax.lax.stop_gradient(log_w), a)
        elbo = jnp.mean(jax.lax.stop_gradient(log_w))
        if gradient == "dreg":
            c = jax.lax.stop_gradient(dreg_coefficients(log_w, a))
            surrogate = jnp.sum(c * log_w) / num_mc
        elif objective == "elbo" and hasattr(family, "entropy"):
            surrogate = jnp.mean(log_p) + family.entropy(params)
        else:
            surrogate = bound(log_w, a)
        return -surrogate, (value, elbo)

    return loss


def fit(log_density, family: Family, init_params: Params, key: jax.Array, dimension: int, *,
        objective: str = "elbo", alpha: float = 0.5, num_mc: int = 8, num_importance: int = 8,
        gradient: str = "dreg", antithetic: bool = True, learning_rate: Any = 0.02,
        max_steps: int = 20_000, check_every: int = 200, tol: float = 1e-3,
        plateaus: int = 3, data: Any = None, programs: Callable | None = None
        ) -> dict[str, Any]:
    """Maximise the bound with Adam from ``init_params``, in compiled chunks of ``check_every``
    steps; after each chunk the step size is halved on a plateau of the smoothed objective and
    the fit stops after ``plateaus`` of them (or at ``max_steps``, rounded up to whole chunks).

    ``log_density(u)``, or with ``data`` given ``log_density(u, data)``: the data then go into
    the compiled program as an argument, as do the shift and scale of a :class:`Preconditioned`
    family. ``programs(key, build)`` (a model's
    :meth:`~ppl.codegen.model.CompiledModel.program`) keeps the compiled program for the next
    fit with the same settings and data shapes.

    Returns ``params`` (averaged since the last plateau), ``steps``, ``converged``, ``objective``
    (the last chunk's mean) and the per-step traces ``objective_trace`` and ``elbo_trace``."""
    if data is None:
        data, target = {}, log_density
        log_density = lambda u, _: target(u)  # noqa: E731
    settings = (("objective", objective), ("alpha", alpha), ("num_mc", num_mc),
                ("num_importance", num_importance), ("gradient", gradient),
                ("antithetic", antithetic), ("learning_rate", learning_rate),
                ("max_steps", max_steps), ("check_every", check_every), ("tol", tol),
                ("plateaus", plateaus))
    base, arrays = family_parts(family)
    run = _program(programs, ("advi_fit", base, dimension) + settings,
                   lambda: _fit_program(log_density, base, dimension, **dict(settings)))
    return fit_summary(run(init_params, key, arrays, data), check_every, plateaus)


def _program(programs: Callable | None, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The program ``build()`` makes, kept by ``programs`` under ``key`` where there is a cache
    and the key can serve as one (a family object of the user's may not be hashable)."""
    try:
        hash(key)
    except TypeError:
        return build()
    return build() if programs is None else programs(key, build)


def _fit_program(log_density, base: Any, dimension: int, *, objective: str, alpha: float,
                 num_mc: int, num_importance: int, gradient: str, antithetic: bool,
                 learning_rate: Any, max_steps: int, check_every: int, tol: float,
                 plateaus: int) -> Callable:
    """``(params, key, arrays, data) -> the optimisation's final carry``, jitted: :func:`fit`'s
    loop (:func:`~ppl.backends.plateaus.optimise_until_plateaus`), with the family ``base``
    seen through ``arrays`` (see :func:`family_parts`)."""

    def run(params, key, arrays, data):
        loss = make_loss(lambda u: log_density(u, data), with_parts(base, arrays), dimension,
                         objective=objective, alpha=alpha, num_mc=num_mc,
                         num_importance=num_importance, gradient=gradient,
                         antithetic=antithetic)
        dtype = jax.tree.leaves(params)[0].dtype
        return optimise_until_plateaus(
            jax.value_and_grad(loss, has_aux=True), params, key, dtype,
            learning_rate=learning_rate, max_steps=max_steps, check_every=check_every,
            tol=tol, plateaus=plateaus)

    return jax.jit(run)


def _diverged(family: Family) -> SamplingError:
    return SamplingError([error(
        f"the variational fit ({family.name}) diverged: its parameters are not finite",
        hint="try a smaller learning_rate (e.g. learning_rate=0.005), a smaller init_scale, or "
             "the 'nuts' backend")])


def _initial_params(model: CompiledModel, family, opts, key) -> tuple[Any, Params]:
    """``init="laplace"`` (default): precondition with the Laplace approximation at the mode and
    start there, which makes badly scaled, correlated posteriors (regressions on raw covariates)
    converge; falls back to a random start (``init="random"``) when the Hessian is not negative
    definite or the family has no Gaussian structure to precondition."""
    if opts.init == "laplace" and isinstance(family, (MeanField, FullRank)):
        starts = finite_initial_points(model, key, 4)
        mode = find_model_mode(model, starts)["mode"]
        factor = model_precision_factor(model, mode)
        if bool(jnp.all(jnp.isfinite(factor))):
            precision = factor @ factor.T
            if isinstance(family, FullRank):
                scale = jnp.linalg.cholesky(jnp.linalg.inv(precision))
            else:
                scale = jnp.diag(1.0 / jnp.sqrt(jnp.diag(precision)))
            if bool(jnp.all(jnp.isfinite(scale))):
                wrapped = Preconditioned(family, mode, scale)
                return wrapped, wrapped.init(mode, 1.0)
    return family, family.init(finite_initial_points(model, key, 1)[0], opts.init_scale)


def _draw_program(log_density, base: Any, n: int, dimension: int) -> Callable:
    """``(params, key, arrays, data) -> (u, log p(u), log q(u))``, jitted: ``n`` draws of the
    fitted family (``base`` seen through ``arrays``, see :func:`family_parts`) with
    ``log_density(u, data)`` at each."""

    def draw(params, key, arrays, data):
        family = with_parts(base, arrays)
        z = sample(family, params, key, n, dimension)
        return (z, jax.vmap(lambda u: log_density(u, data))(z),
                family.log_prob(params, z))

    return jax.jit(draw)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class ADVI:
    name = "advi"
    description = ("automatic differentiation variational inference (optax Adam) on the "
                   "unconstrained space; " + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        opts = ADVIOptions(**validate_options(self.name, options, OPTIONS))
        family = resolve_family(opts.family, model.dimension)
        init_key, fit_key, draw_key = jax.random.split(jax.random.PRNGKey(settings.seed), 3)
        family, params = _initial_params(model, family, opts, init_key)
        result = fit(model.log_density_with, family, params, fit_key, model.dimension,
                     objective=opts.objective, alpha=opts.alpha, num_mc=opts.num_mc,
                     num_importance=opts.num_importance, gradient=opts.gradient,
                     antithetic=bool(opts.antithetic), learning_rate=opts.learning_rate,
                     max_steps=opts.max_steps, check_every=opts.check_every, tol=opts.tol,
                     plateaus=opts.plateaus, data=model.traced_data, programs=model.program)
        params = result["params"]
        if not all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)):
            raise _diverged(family)

        n = settings.chains * settings.draws
        base, arrays = family_parts(family)
        draw = _program(model.program, ("advi_draws", base, n),
                        lambda: _draw_program(model.log_density_with, base, n, model.dimension))
        z, log_p, log_q = (np.asarray(a) for a in draw(params, draw_key, arrays,
                                                       model.traced_data))
        log_w = log_p - log_q
        shape = (settings.chains, settings.draws)
        attrs = {
            "vi_family": family.name, "vi_objective_kind": opts.objective,
            "vi_gradient": opts.gradient, "vi_num_mc": int(opts.num_mc),
            "vi_steps": result["steps"], "vi_converged": int(result["converged"]),
            "vi_objective": result["objective"],
            "vi_elbo": float(np.mean(log_w)),
            "vi_pareto_k": pareto_k(log_w), "vi_tol": float(opts.tol),
        }
        if opts.objective != "elbo":
            attrs["vi_num_importance"] = int(opts.num_importance)
        if opts.objective == "renyi":
            attrs["vi_alpha"] = float(opts.alpha)
        if isinstance(opts.learning_rate, (int, float)):
            attrs["vi_learning_rate"] = float(opts.learning_rate)
        trace = {"objective": result["objective_trace"][None, :],
                 "elbo": result["elbo_trace"][None, :]}
        return BackendResult(
            positions=z.reshape(shape + (model.dimension,)),
            sample_stats={"lp": log_p.reshape(shape), "log_weight": log_w.reshape(shape)},
            extra_groups={"vi_trace": trace},
            attrs=attrs)


__all__ = ["ADVI", "ADVIOptions", "FAMILIES", "Family", "FullRank", "MeanField", "OPTIONS",
           "bound", "dreg_coefficients", "family_parts", "fit", "is_family", "make_loss",
           "resolve_family", "sample"]
