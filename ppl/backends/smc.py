"""Adaptive tempered sequential Monte Carlo (BlackJAX), from the prior (or a Laplace reference)
to the posterior.

The particles start as draws from the prior (ancestral simulation of the model, mapped to the
unconstrained space, where the prior density is ``log_prior(u)`` including the log-Jacobian) and
move through the tempered targets ``log_prior(u) + lambda * log_likelihood(u)``. Each stage picks
the next ``lambda`` so that the effective sample size of the incremental weights is
``target_ess * num_particles`` (BlackJAX's ``adaptive_tempered_smc``), resamples, and mutates
every particle with ``num_mcmc_steps`` HMC (or NUTS) transitions whose inverse mass matrix is the
particles' weighted variance and whose step size is adapted from the previous stage's acceptance
rate (both set by BlackJAX's ``inner_kernel_tuning`` hook; resampling is BlackJAX's systematic
resampling). The stages run inside one ``jax.lax.while_loop`` of ours, which BlackJAX leaves to
its users: it stops at ``lambda = 1``, adds the final mutation and records the per-stage trace.

Besides the draws, SMC estimates the log marginal likelihood ``log p(y)`` (the sum of the
stages' log normalising-constant increments) relative to the *normalised* prior; it is recorded
in the attributes (``log_marginal_likelihood``) together with the tempering schedule, and the
per-stage trace goes to the ``smc_trace`` group (one row, ``chain`` 1, whose ``draw`` axis is the
stage).

Reference distribution (``reference``): tempering needs a normalisable starting distribution to
draw the first particles from. ``reference="prior"`` starts from the prior as above.
``reference="laplace"`` first fits the posterior mode and the Laplace Gaussian
``q = N(mode, (-H)^-1)`` on the unconstrained space (as the ``map`` backend does, with
:func:`~ppl.backends.optimise.find_mode` and
:func:`~ppl.backends.optimise.laplace_precision_factor`, with the log-Jacobian, from
``laplace_starts`` random starts) and tempers from ``q`` instead: the first
particles are draws from ``q``, the "prior" term is the normalised Gaussian density ``log q(u)``
and the "likelihood" term is ``log_density(u) - log q(u)``, so the tempered targets are
``q^(1 - lambda) p^lambda`` and ``lambda = 1`` is still the posterior. This works when a prior is
improper (flat), as in many regression models, and usually needs far fewer stages because ``q``
is already close to the posterior. ``reference="auto"`` (default) uses the prior when every
parameter's prior is proper and the Laplace reference otherwise. The reference used is recorded
in the attribute ``smc_reference``.

The evidence estimate is ``log ∫ p(data, theta) dtheta`` with either reference. With the Laplace
reference and an improper prior it is computed with the flat prior's density taken as 1, an
arbitrary constant: it is then *not* a marginal likelihood that can be compared between models.
It is only meaningful when every prior is proper (attribute ``priors_proper``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.smc import resampling
from blackjax.smc.inner_kernel_tuning import StateWithParameterOverride
from blackjax.smc.tempered import TemperedSMCState

from ppl.backends.base import BackendResult, RunSettings, finite_initial_points
from ppl.backends.optimise import (
    find_model_mode,
    model_precision_factor,
    no_mode_error,
    not_definite_error,
)
from ppl.backends.options import (
    BOOL,
    FLOAT,
    INT,
    Option,
    at_least,
    between,
    choice,
    describe_options,
    from_to,
    positive,
    validate_options,
)
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings

KERNELS = ("hmc", "nuts")
REFERENCES = ("auto", "prior", "laplace")
# Acceptance rates the step size is steered towards, per mutation kernel.
DEFAULT_TARGET_ACCEPT = {"hmc": 0.65, "nuts": 0.8}
DEFAULT_NUM_MCMC_STEPS = {"hmc": 10, "nuts": 5}
# Each particle's step size is the adapted one times a uniform factor in [1 - j, 1 + j].
STEP_SIZE_JITTER = 0.2
# SMC needs at least two particles to resample.
MIN_PARTICLES = 2

OPTIONS: tuple[Option, ...] = (
    Option("num_particles", INT, None, at_least(MIN_PARTICLES),
           doc="by default chains * draws"),
    Option("kernel", choice(*KERNELS), "hmc", doc="the mutation kernel"),
    Option("num_mcmc_steps", INT, None, at_least(1),
           doc="mutation steps per stage; by default 10 for hmc and 5 for nuts"),
    Option("target_ess", FLOAT, 0.5, between(0, 1),
           doc="the fraction of particles kept effective per stage; 0.5 is usual"),
    Option("num_integration_steps", INT, 10, at_least(1),
           doc="leapfrog steps per hmc transition"),
    Option("max_tree_depth", INT, 10, from_to(1, 30), doc="the nuts kernel's tree depth"),
    Option("step_size", FLOAT, None, positive(),
           doc="the first stage's step size; by default from the dimension"),
    Option("target_accept", FLOAT, None, between(0, 1),
           doc="the acceptance rate the step size is steered to; by default 0.65 for hmc "
               "and 0.8 for nuts"),
    Option("max_stages", INT, 500, at_least(1), doc="the most tempering stages"),
    Option("final_mutation", BOOL, True, doc="move the particles once more at lambda = 1"),
    Option("reference", choice(*REFERENCES), "auto",
           doc="the distribution tempering starts from"),
    Option("laplace_starts", INT, 4, at_least(1),
           doc="random starts for the Laplace reference's mode"),
)
"""The options of the ``smc`` backend (the keyword arguments of :func:`run_smc`)."""


class _Carry(NamedTuple):
    stage: jax.Array
    key: jax.Array
    state: StateWithParameterOverride  # the particles and the next stage's parameters
    log_evidence: jax.Array
    trace: dict[str, jax.Array]
    finished: jax.Array  # the last stage started at lambda = 1 (the final mutation ran)
    moved: dict[str, jax.Array]  # per-particle statistics of the last stage's moves


def _invalid(message: str, hint: str) -> SamplingError:
    return SamplingError([error(message, hint=hint)])


def _for_smc(exc: SamplingError) -> SamplingError:
    """The prior simulator's improper-prior error, with a hint that fits SMC."""
    diagnostics = [dataclasses.replace(
        d, hint="with reference='prior' the smc backend starts its particles from the prior: "
                "give the parameter a proper prior distribution, or start from the Laplace "
                "approximation (reference='laplace' or 'auto'; the evidence is then relative "
                "to the flat prior's arbitrary constant)") for d in exc.diagnostics]
    return SamplingError(diagnostics, exc.source)


def prior_particles(model: CompiledModel, key: jax.Array, n: int,
                    max_batches: int = 20) -> jax.Array:
    """``n`` draws from the prior on the unconstrained space, shape ``(n, dimension)``.

    Draws outside a latent's declared bounds (the prior is then truncated) or with a
    non-finite prior density are rejected. Raises a located :class:`SamplingError` when a
    parameter has an improper (flat) prior, which cannot be simulated.
    """
    try:  # traced abstractly: only the improper-prior check runs, nothing is evaluated
        jax.eval_shape(model.prior_draw, key)
    except SamplingError as exc:
        raise _for_smc(exc) from None
    draws = model.program(("smc_prior_particles",), lambda: _prior_draws(model))
    kept: list[np.ndarray] = []
    total = tried = 0
    for _ in range(max_batches):
        key, sub = jax.random.split(key)
        u, lp, ll = (np.asarray(a) for a in draws(jax.random.split(sub, n), model.traced_data))
        ok = np.all(np.isfinite(u), axis=1) & np.isfinite(lp) & ~np.isnan(ll)
        kept.append(u[ok])
        total += int(ok.sum())
        tried += n
        if total >= n:
            return jnp.asarray(np.concatenate(kept)[:n])
    raise _invalid(
        f"only {total} of {tried} draws from the prior are valid starting particles for SMC",
        "the prior puts almost no mass inside the parameters' declared bounds, or its density "
        "is not finite at its own draws; check the bounds and the prior's arguments")


def _prior_draws(model: CompiledModel) -> Callable:
    """``(keys, data) -> (u, log prior, log likelihood)``, jitted: one prior draw per key on the
    unconstrained space, the data an argument of the program."""
    names = model.latent_names

    def draw(k, data):
        bound = model.with_data(data)
        values = bound.prior_draw(k)
        u = bound.unconstrain({name: values[name] for name in names})
        return u, bound.log_prior(u), bound.log_likelihood(u)

    return jax.jit(jax.vmap(draw, in_axes=(0, None)))


def priors_proper(model: CompiledModel) -> bool:
    """Whether the model can be simulated from its prior (every prior is proper).

    Traced abstractly with ``jax.eval_shape``: nothing is evaluated."""
    try:
        jax.eval_shape(model.prior_draw, jax.random.PRNGKey(0))
    except SamplingError:
        return False
    return True


class LaplaceReference(NamedTuple):
    """The Laplace Gaussian ``N(mode, (L L^T)^-1)`` on the unconstrained space."""

    mode: jax.Array
    chol: jax.Array  # lower Cholesky factor of the precision -H
    fit: dict[str, Any]  # find_mode's result

    def log_density(self, u: jax.Array) -> jax.Array:
        """The normalised Gaussian log-density ``log q(u)``."""
        z = self.chol.T @ (u - self.mode)
        d = self.mode.shape[0]
        return (-0.5 * jnp.sum(z ** 2) + jnp.sum(jnp.log(jnp.diag(self.chol)))
                - 0.5 * d * jnp.log(2 * jnp.pi))

    def draw(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` draws from ``q``, shape ``(n, dimension)``."""
        eps = jax.random.normal(key, (n, self.mode.shape[0]), self.mode.dtype)
        # u = mode + L^-T eps has covariance (L L^T)^-1
        return self.mode[None, :] + jax.scipy.linalg.solve_triangular(
            self.chol.T, eps.T, lower=False).T


def laplace_reference(model: CompiledModel, key: jax.Array,
                      num_starts: int = 4) -> LaplaceReference:
    """The posterior mode (log-Jacobian included) and the Laplace Gaussian around it, with
    the ``map`` backend's functions. Raises a :class:`SamplingError` when no finite mode is
    found or the Hessian there is not negative definite."""
    starts = finite_initial_points(model, key, num_starts)
    found = find_model_mode(model, starts)
    if not np.isfinite(found["objective"]):
        raise no_mode_error(model)
    chol = model_precision_factor(model, found["mode"])
    if not bool(jnp.all(jnp.isfinite(chol))):
        raise not_definite_error(model)
    return LaplaceReference(found["mode"], chol, found)


def laplace_particles(model: CompiledModel, reference: LaplaceReference, key: jax.Array,
                      n: int) -> jax.Array:
    """``n`` draws from the Laplace reference, shape ``(n, dimension)``."""
    draw = model.program(("laplace_particles", n), lambda: jax.jit(
        lambda mode, chol, key: LaplaceReference(mode, chol, {}).draw(key, n)))
    particles = draw(reference.mode, reference.chol, key)
    if not bool(jnp.all(jnp.isfinite(particles))):
        raise not_definite_error(model)
    return particles


def _weighted_variance(particles: jax.Array, weights: jax.Array) -> jax.Array:
    weights = weights.astype(particles.dtype)
    mean = weights @ particles
    var = weights @ (particles - mean[None]) ** 2
    return jnp.maximum(var, 1e-10)


class _Move(NamedTuple):
    """A mutation's information and the stage's step size before jitter: BlackJAX's parameter
    update sees the transitions' information but not the parameters they ran with, and the
    next step size is this one scaled by the acceptance rate."""

    info: Any
    base_step_size: jax.Array


def _mcmc_step(kernel: str, num_integration_steps: int, max_tree_depth: int):
    """A BlackJAX step with the signature SMC wants: ``(key, state, logdensity, step_size,
    inverse_mass_matrix, base_step_size)``, the trajectory length bound in; its information
    carries ``base_step_size`` (see :class:`_Move`)."""
    if kernel == "hmc":
        hmc = blackjax.hmc.build_kernel()

        def move(key, state, logdensity_fn, step_size, inverse_mass_matrix):
            return hmc(key, state, logdensity_fn, step_size, inverse_mass_matrix,
                       num_integration_steps)
    else:
        nuts = blackjax.nuts.build_kernel()

        def move(key, state, logdensity_fn, step_size, inverse_mass_matrix):
            return nuts(key, state, logdensity_fn, step_size, inverse_mass_matrix,
                        max_tree_depth)

    def step(key, state, logdensity_fn, step_size, inverse_mass_matrix, base_step_size):
        new, info = move(key, state, logdensity_fn, step_size, inverse_mass_matrix)
        return new, _Move(info, base_step_size)

    return step


def _mcmc_parameters(key: jax.Array, particles: jax.Array, weights: jax.Array,
                     base_step_size: jax.Array, n: int) -> dict[str, jax.Array]:
    """The next stage's mutation parameters: a jittered step size per particle, the diagonal
    inverse mass matrix from the particles' weighted variance, shared (leading axis 1), and the
    step size before jitter, shared."""
    return {"step_size": _jittered(key, base_step_size, n),
            "inverse_mass_matrix": _weighted_variance(particles, weights)[None],
            "base_step_size": base_step_size[None]}


def _mean_acceptance(rates: jax.Array) -> jax.Array:
    """The stage's mean acceptance rate over particles and transitions; 0 when undefined."""
    acc = jnp.nanmean(jnp.mean(rates, axis=1))
    return jnp.where(jnp.isnan(acc), 0.0, acc)


def _jittered(key: jax.Array, step_size: jax.Array, n: int) -> jax.Array:
    return step_size * jax.random.uniform(key, (n,), step_size.dtype,
                                          1 - STEP_SIZE_JITTER, 1 + STEP_SIZE_JITTER)


class _Stages(NamedTuple):
    """What a tempering program is specialised to (the key it is kept under)."""

    n: int
    kernel: str
    num_mcmc_steps: int
    target_ess: float
    num_integration_steps: int
    max_tree_depth: int
    first_step: float
    accept: float
    max_stages: int
    final_mutation: bool


def _temper_program(model: CompiledModel, s: _Stages) -> Callable:
    """``(key, particles, gaussian, data) -> (final carry, log-density of each particle)``,
    jitted: the tempering stages from ``particles`` to the posterior, from the prior
    (``gaussian`` None) or from the Laplace Gaussian ``(mode, chol)``, the data and the
    Gaussian arguments of the program."""
    dtype = model.dtype
    wide = jnp.result_type(float)  # weights and tempering in double precision when enabled

    def update_parameters(key, state, info):
        # blackjax.inner_kernel_tuning's hook: the step size follows the mean acceptance rate
        # of the stage just run (log step += acceptance - target); BlackJAX's own
        # update_scale_from_acceptance_rate averages per-particle scales, for random walks.
        acc = _mean_acceptance(info.update_info.info.acceptance_rate)
        base = info.update_info.base_step_size[0, 0]
        next_step = jnp.clip(base * jnp.exp(acc - s.accept), 1e-8, 1e3).astype(dtype)
        return _mcmc_parameters(key, state.particles, state.weights, next_step, s.n)

    def temper(key, particles, gaussian, data):
        bound = model.with_data(data)
        if gaussian is None:
            log_reference, log_ratio = bound.log_prior, bound.log_likelihood
        else:
            q = LaplaceReference(*gaussian, {})

            def log_reference(u):
                return q.log_density(u).astype(dtype)

            def log_ratio(u):
                return bound.log_density(u) - q.log_density(u).astype(dtype)

        smc = blackjax.inner_kernel_tuning(
            smc_algorithm=blackjax.adaptive_tempered_smc, logprior_fn=log_reference,
            loglikelihood_fn=log_ratio,
            mcmc_step_fn=_mcmc_step(s.kernel, s.num_integration_steps, s.max_tree_depth),
            mcmc_init_fn=blackjax.hmc.init, resampling_fn=resampling.systematic,
            mcmc_parameter_update_fn=update_parameters, initial_parameter_value={},
            num_mcmc_steps=s.num_mcmc_steps, target_ess=s.target_ess)

        # The stages run in our own while_loop: BlackJAX gives the step, not the loop that
        # stops at lambda = 1, adds the final mutation and records the per-stage trace.
        def body(carry: _Carry) -> _Carry:
            key, step_key = jax.random.split(carry.key)
            state = carry.state
            new, info = smc.step(step_key, state)
            tempered = new.sampler_state
            lam = tempered.tempering_param
            lam = jnp.where(lam > 1 - 1e-9, 1.0, lam)
            tempered = jax.tree.map(lambda a, b: jnp.asarray(a).astype(b.dtype),
                                    TemperedSMCState(tempered.particles, tempered.weights, lam),
                                    state.sampler_state)
            new = StateWithParameterOverride(tempered, new.parameter_override)
            moves = info.update_info.info
            per_particle = jnp.mean(moves.acceptance_rate, axis=1)
            i = carry.stage
            record = {"lambda": lam, "log_evidence_increment": info.log_likelihood_increment,
                      "ess": 1.0 / jnp.sum(tempered.weights ** 2),
                      "acceptance_rate": _mean_acceptance(moves.acceptance_rate),
                      "step_size": state.parameter_override["base_step_size"][0]}
            trace = {k: v.at[i].set(record[k].astype(v.dtype)) for k, v in carry.trace.items()}
            moved = {"acceptance_rate": per_particle.astype(wide),
                     "diverging": jnp.any(moves.is_divergent, axis=1)}
            if s.kernel == "nuts":
                moved["n_steps"] = moves.num_integration_steps[:, -1].astype(jnp.int32)
            return _Carry(i + 1, key, new,
                          (carry.log_evidence + info.log_likelihood_increment).astype(wide),
                          trace, state.sampler_state.tempering_param >= 1, moved)

        def cond(carry: _Carry) -> jax.Array:
            # Temper until lambda = 1 (at most max_stages stages), then, with the final
            # mutation, run the one more stage that starts at lambda = 1. A NaN lambda stops
            # the loop.
            lam = carry.state.sampler_state.tempering_param
            return ~carry.finished & (((lam < 1) & (carry.stage < s.max_stages))
                                      | ((lam >= 1) & s.final_mutation))

        key, jitter_key = jax.random.split(key)
        weights = jnp.full((s.n,), 1.0 / s.n, wide)
        state = StateWithParameterOverride(
            TemperedSMCState(particles, weights, jnp.zeros((), wide)),
            _mcmc_parameters(jitter_key, particles, weights, jnp.asarray(s.first_step, dtype),
                             s.n))
        trace = {k: jnp.full((s.max_stages + 1,), jnp.nan, wide)
                 for k in ("lambda", "log_evidence_increment", "ess", "acceptance_rate",
                           "step_size")}
        moved = {"acceptance_rate": jnp.full((s.n,), jnp.nan, wide),
                 "diverging": jnp.zeros((s.n,), bool)}
        if s.kernel == "nuts":
            moved["n_steps"] = jnp.zeros((s.n,), jnp.int32)
        carry = _Carry(jnp.zeros((), jnp.int32), key, state, jnp.zeros((), wide), trace,
                       jnp.asarray(False), moved)
        out = jax.lax.while_loop(cond, body, carry)
        return out, jax.vmap(bound.log_density)(out.state.sampler_state.particles)

    return jax.jit(temper)


def run_smc(model: CompiledModel, settings: RunSettings, *, num_particles: int | None = None,
            kernel: str = "hmc", num_mcmc_steps: int | None = None, target_ess: float = 0.5,
            num_integration_steps: int = 10, max_tree_depth: int = 10,
            step_size: float | None = None, target_accept: float | None = None,
            max_stages: int = 500, final_mutation: bool = True, reference: str = "auto",
            laplace_starts: int = 4) -> BackendResult:
    """Run adaptive tempered SMC and return ``chains * draws`` posterior particles. The
    options are those of :data:`OPTIONS`, already checked (the backend's ``run`` checks them).

    ``reference`` picks the distribution tempering starts from (see the module docstring):
    ``"prior"``, ``"laplace"`` (the Laplace Gaussian at the mode, found from ``laplace_starts``
    random starts) or ``"auto"`` (the prior when every prior is proper, else ``"laplace"``).

    ``num_particles`` defaults to ``chains * draws``; with fewer particles than that the output
    repeats particles, with more it is a random subset. BlackJAX's stages resample and mutate
    *before* reweighting, so the particles reweighted to ``lambda = 1`` have not moved at
    ``lambda = 1``; ``final_mutation`` (default) runs one more stage with ``lambda`` held at 1
    (its increment is exactly 0), which resamples them and moves them with ``num_mcmc_steps``
    transitions targeting the posterior. The trace (``smc_trace``) includes that stage.
    """
    n_out = settings.chains * settings.draws
    n = int(num_particles) if num_particles is not None else n_out
    if n < MIN_PARTICLES:  # the default, chains * draws, is not known to the option check
        raise _invalid(f"num_particles must be an integer >= {MIN_PARTICLES}, not {n}",
                       "pass num_particles=2000 or similar, or more chains or draws")
    if num_mcmc_steps is None:
        num_mcmc_steps = DEFAULT_NUM_MCMC_STEPS[kernel]
    accept = DEFAULT_TARGET_ACCEPT[kernel] if target_accept is None else float(target_accept)
    dim = model.dimension
    first_step = (1.0 / dim ** 0.25) if step_size is None else float(step_size)
    if kernel == "hmc" and step_size is None:
        first_step = min(first_step, 2.0 / num_integration_steps)

    init_key, loop_key = jax.random.split(jax.random.PRNGKey(settings.seed))
    proper = priors_proper(model)
    if reference == "auto":
        reference = "prior" if proper else "laplace"
    laplace_attrs: dict[str, Any] = {}
    gaussian = None
    if reference == "prior":
        particles = prior_particles(model, init_key, n)
    else:
        mode_key, draw_key = jax.random.split(init_key)
        q = laplace_reference(model, mode_key, int(laplace_starts))
        particles = laplace_particles(model, q, draw_key, n)
        gaussian = (q.mode, q.chol)
        laplace_attrs = {"laplace_map_objective": q.fit["objective"],
                         "laplace_map_converged": int(q.fit["converged"]),
                         "laplace_starts": int(laplace_starts)}
    stages = _Stages(n, kernel, int(num_mcmc_steps), float(target_ess),
                     int(num_integration_steps), int(max_tree_depth), float(first_step),
                     float(accept), int(max_stages), bool(final_mutation))
    temper = model.program(("smc", reference) + stages,
                           lambda: _temper_program(model, stages))
    out, lp = temper(loop_key, particles, gaussian, model.traced_data)
    stages = int(out.stage)
    lam = float(out.state.sampler_state.tempering_param)
    if lam != 1.0:
        if np.isnan(lam) or not np.isfinite(float(out.log_evidence)):
            raise _invalid(
                "SMC failed: the log-likelihood is not finite at the particles",
                "the data may be impossible under every parameter value the prior proposes; "
                "check the data against the likelihood's support")
        raise _invalid(
            f"SMC did not reach the posterior within max_stages={max_stages} stages "
            f"(tempering parameter {lam:.3g})",
            "raise max_stages, lower target_ess, or use more particles; a posterior far from "
            "the prior needs many stages")
    log_evidence = float(out.log_evidence)
    if not math.isfinite(log_evidence):
        raise _invalid("SMC's log marginal likelihood estimate is not finite",
                       "check the data against the likelihood's support")

    trace = {k: np.asarray(v)[:stages] for k, v in out.trace.items()}
    tempering = stages - 1 if final_mutation else stages
    weights = np.asarray(out.state.sampler_state.weights, dtype=np.float64)
    final_ess = float(trace["ess"][tempering - 1])
    rng = np.random.default_rng([settings.seed, 0x5EC])
    if final_mutation:  # uniform weights after the last stage: shuffle or subsample
        pick = (rng.permutation(n) if n_out == n
                else rng.choice(n, n_out, replace=n_out > n))
    else:  # the weighted particles of the last stage, resampled as the stages resample them
        resample_key = jax.random.fold_in(loop_key, stages)
        pick = rng.permutation(np.asarray(resampling.systematic(
            resample_key, jnp.asarray(weights), n_out)))
    shape = (settings.chains, settings.draws)
    positions = np.asarray(out.state.sampler_state.particles)[pick].reshape(shape + (dim,))
    stats = {"lp": np.asarray(lp)[pick].reshape(shape)}
    if final_mutation:
        stats.update({k: np.asarray(v)[pick].reshape(shape) for k, v in out.moved.items()})
    attrs: dict[str, Any] = {
        "log_marginal_likelihood": log_evidence,
        "tempering_schedule": [0.0] + [float(x) for x in trace["lambda"][:tempering]],
        "num_stages": tempering,
        "num_particles": n,
        "kernel": kernel,
        "num_mcmc_steps": int(num_mcmc_steps),
        "target_ess": float(target_ess),
        "final_ess": final_ess,
        "final_mutation": int(final_mutation),
        "smc_reference": reference,
        "priors_proper": int(proper),
        **laplace_attrs,
    }
    if kernel == "hmc":
        attrs["num_integration_steps"] = int(num_integration_steps)
    else:
        attrs["max_tree_depth"] = int(max_tree_depth)
    return BackendResult(positions, stats, {"smc_trace": {k: v[None] for k, v in trace.items()}},
                         attrs)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class SMC:
    """The ``smc`` backend: adaptive tempered SMC (BlackJAX) from the prior or, when a prior is
    improper, from the Laplace approximation."""

    name = "smc"
    description = ("adaptive tempered sequential Monte Carlo (BlackJAX) from the prior (or the "
                   "Laplace Gaussian), with the log marginal likelihood; "
                   + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        """Run :func:`run_smc` with ``options``, checked against :data:`OPTIONS`."""
        return run_smc(model, settings, **validate_options(self.name, options, OPTIONS))


__all__ = ["OPTIONS", "SMC", "LaplaceReference", "laplace_particles", "laplace_reference",
           "prior_particles", "priors_proper", "run_smc"]
