"""A split (global-consensus) Gibbs sampler for data-distributed MCMC: the ADMM-type splitting
of Vono, Paulin and Doucet (2022, "Efficient MCMC sampling with dimension-free convergence rate
using ADMM-type splitting", JMLR), in the global-consensus form of Rendell, Johansen, Lee and
Whiteley (2020, "Global consensus Monte Carlo") and DG-LMC (Plassier, Vono et al. 2021).

Each shard ``s`` of the observations gets an auxiliary copy ``z_s`` of the (unconstrained)
parameters, coupled to the global ``theta`` by a Gaussian of covariance ``R``:

    pi_R(theta, z) ∝ p(theta) prod_s p(y_s | z_s) N(z_s | theta, R)

and the sampler alternates, each round, ``z_s | theta, y_s`` on every shard's worker at once
(a few HMC transitions, :class:`ppl.backends.split_worker.ShardChains`, a Dask actor that keeps
its data and chains between rounds) and ``theta | z`` on the master, whose density is
``p(theta) N(theta | mean(z), R / S)`` (a few HMC transitions; exact in one when the prior is
flat or Gaussian). The draws are the ``theta`` of each round after warm-up.

``R = rho^2 Sigma``, with ``Sigma`` the posterior covariance of a Gaussian pilot (each shard's
Laplace approximation, combined as in consensus Monte Carlo), so ``rho`` is in posterior
standard deviations along every direction. The bias: the ``theta``-marginal of ``pi_R`` is the
posterior with each shard's likelihood smoothed by ``N(0, R)``. For Gaussian likelihoods its
mean is the posterior's (up to the prior's pull) and its covariance is inflated by a factor of
about ``1 + rho^2 / S``; the Gibbs sampler's autocorrelation is about ``1 - rho^2 / (S +
rho^2)``, so a small ``rho`` is accurate but mixes slowly. The default ``rho=1`` mixes fast and
``bias_correction=True`` removes the Gaussian part of the inflation: the draws are mapped
linearly about their mean from the covariance the pilot predicts for ``pi_R`` to the pilot's
posterior covariance. What is left is the non-Gaussian part, which shrinks with ``rho``.
During the first half of the warm-up ``rho`` is annealed from ``4 rho`` down to ``rho`` (the
chains travel fast while the coupling is loose); the step sizes are adapted in the second half.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.base import BackendResult, RunSettings
from ppl.backends.distributed import (
    SHARD_OPTIONS,
    ShardRunner,
    checked_plan,
    describe_cluster,
    shard_runner,
    shard_tasks,
)
from ppl.backends.options import (
    BOOL,
    FLOAT,
    INT,
    Option,
    at_least,
    describe_options,
    positive,
    validate_options,
)
from ppl.backends.split_kernels import DualAveraging, hmc_transitions, precision_factor
from ppl.backends.split_worker import ShardChains, call, pilot_shard, result
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings

OPTIONS = SHARD_OPTIONS + (
    Option("rho", FLOAT, 1.0, positive(),
           doc="the coupling's scale, in posterior standard deviations"),
    Option("local_steps", INT, 3, at_least(1),
           doc="HMC transitions of each shard's z per round"),
    Option("bias_correction", BOOL, True,
           doc="undo the Gaussian part of the coupling's variance inflation"),
)
"""The options of the ``split_gibbs`` backend."""

# The master's HMC transitions of theta per round, and the factor rho starts at.
MASTER_STEPS = 3
ANNEAL_FROM = 4.0


def combined_pilot(pilots: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian picture of the posterior from the shards' Laplace pilots: mean
    ``P^-1 sum_s H_s m_s`` and precision ``P = sum_s H_s``."""
    precisions = [np.asarray(p["precision"]) for p in pilots]
    total = np.sum(precisions, axis=0)
    weighted = np.sum([h @ p["mode"] for h, p in zip(precisions, pilots, strict=True)], axis=0)
    return np.linalg.solve(total, weighted), total


def coupled_precision(prior: np.ndarray, likelihoods: Sequence[np.ndarray],
                      coupling_cov: np.ndarray) -> np.ndarray:
    """The precision of ``theta``'s marginal under the coupling when the prior and the shards'
    likelihoods are Gaussian: ``P_prior + sum_s (H_s^-1 + R)^-1``."""
    return prior + sum(np.linalg.inv(np.linalg.inv(h) + coupling_cov) for h in likelihoods)


def correction_map(posterior_precision: np.ndarray, coupled: np.ndarray) -> np.ndarray:
    """The matrix ``A`` that maps draws of covariance ``coupled^-1`` to covariance
    ``posterior_precision^-1`` (``A coupled^-1 A' = posterior_precision^-1``)."""
    target = np.linalg.cholesky(np.linalg.inv(posterior_precision))
    source = np.linalg.cholesky(np.linalg.inv(coupled))
    return target @ np.linalg.inv(source)


def _prior_precision(model: CompiledModel, point: np.ndarray) -> np.ndarray:
    """Minus the Hessian of the log prior (with the log |Jacobian|) at ``point``."""
    hessian = jax.jit(jax.hessian(lambda u, data: model.with_data(data).log_density_parts(u)[0]))
    return -np.asarray(hessian(jnp.asarray(point, model.dtype), model.traced_data), np.float64)


def _master_program(model: CompiledModel, shards: int):
    """``theta | z`` for every chain: MASTER_STEPS HMC transitions of
    ``log p(theta) - S (theta - zbar)' R^-1 (theta - zbar) / 2``."""

    def chains(keys, theta, zbar, data, coupling, chol, step_size):
        def one(key, start, centre):
            def log_target(u):
                gap = u - centre
                prior = model.with_data(data).log_density_parts(u)[0]
                return prior - 0.5 * shards * gap @ coupling @ gap

            return hmc_transitions(log_target, key, start, chol, step_size, MASTER_STEPS)

        return jax.vmap(one)(keys, theta, zbar)

    return jax.jit(chains)


def _not_gaussian(what: str) -> SamplingError:
    return SamplingError([error(
        f"split_gibbs needs a Laplace pilot of each shard, but {what}",
        hint="the subposteriors need a mode with a negative definite Hessian; use the "
             "consensus or nuts backend")])


def _pilot(runner: ShardRunner, tasks) -> list[dict]:
    pilots = runner.map(pilot_shard, tasks)
    for i, p in enumerate(pilots):
        if not np.all(np.isfinite(p["precision"])) or not np.all(np.isfinite(p["mode"])):
            raise _not_gaussian(f"shard {i + 1}'s mode or Hessian is not finite")
        if np.linalg.eigvalsh(0.5 * (p["precision"] + p["precision"].T)).min() <= 0:
            raise _not_gaussian(f"shard {i + 1}'s Hessian at its mode is not negative definite")
    return pilots


def _actors(runner: ShardRunner, tasks, starts: np.ndarray, metrics, local_steps: int) -> list:
    if runner.client is None:
        return [ShardChains(t, starts, m, local_steps, runner.model)
                for t, m in zip(tasks, metrics, strict=True)]
    futures = [runner.client.submit(ShardChains, t, starts, m, local_steps, actor=True,
                                    pure=False) for t, m in zip(tasks, metrics, strict=True)]
    return [f.result() for f in futures]


def run_split_gibbs(model: CompiledModel, settings: RunSettings, *, shards: int = 4,
                    cluster: Any = "local", workers: int | None = None, rho: float = 1.0,
                    local_steps: int = 3, bias_correction: bool = True) -> BackendResult:
    """The split Gibbs sampler over ``shards`` shards on ``cluster`` (options already
    checked); see the module's description."""
    chains, dimension, count = settings.chains, model.dimension, shards
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, 0x5B1]))
    with shard_runner(model, cluster, workers) as runner:
        plan = checked_plan(model, shards, runner, settings.seed)
        count = len(plan.blocks)
        tasks = shard_tasks(model, plan, settings.seed, chains=chains)
        pilots = _pilot(runner, tasks)
        mean, precision = combined_pilot(pilots)
        covariance = np.linalg.inv(precision)
        prior = _prior_precision(model, mean)
        # The shards' likelihood precisions: the pilot's less their share of the prior's.
        likelihoods = [p["precision"] - prior / count for p in pilots]
        theta = mean + rng.standard_normal((chains, dimension)) @ \
            np.linalg.cholesky(covariance).T
        actors = _actors(runner, tasks, theta, likelihoods, local_steps)
        program = _master_program(model, count)
        adaptation = DualAveraging.start(0.5)
        key = jax.random.PRNGKey(settings.seed)
        anneal_rounds = settings.warmup // 2
        draws, accept_master, accept_shards = [], [], []
        coupling_scale = None
        for round_ in range(settings.warmup + settings.draws):
            scale = rho * ANNEAL_FROM ** max(0.0, 1 - round_ / max(anneal_rounds, 1)) \
                if round_ < anneal_rounds else rho
            if scale != coupling_scale:
                # The step sizes adapt all through the warm-up, afresh once rho is final.
                restart = scale == rho
                coupling_scale = scale
                coupling = np.linalg.inv(scale ** 2 * covariance)
                for f in [call(a, "set_coupling", coupling, restart) for a in actors]:
                    result(f)
                chol = jnp.asarray(precision_factor(count * coupling + _clipped(prior)),
                                   model.dtype)
                if restart:
                    adaptation = DualAveraging.start(adaptation.step_size)
            if round_ == settings.warmup:
                for f in [call(a, "stop_adapting") for a in actors]:
                    result(f)
            steps = [result(f) for f in [call(a, "step", theta) for a in actors]]
            zbar = np.mean([s[0] for s in steps], axis=0)
            adapting = round_ < settings.warmup
            step_size = adaptation.step_size if adapting else adaptation.final_step_size
            key, sub = jax.random.split(key)
            new, accept = program(jax.random.split(sub, chains), jnp.asarray(theta, model.dtype),
                                  jnp.asarray(zbar, model.dtype), model.traced_data,
                                  jnp.asarray(coupling, model.dtype), chol,
                                  jnp.asarray(step_size, model.dtype))
            theta = np.asarray(new, np.float64)
            accept = np.asarray(accept, np.float64)
            if adapting:
                adaptation = adaptation.update(float(np.mean(accept)))
            else:
                draws.append(theta)
                accept_master.append(accept)
                accept_shards.append(np.mean([s[1] for s in steps]))
        used = runner.workers
    positions = np.stack(draws, axis=1)
    attrs = {"shards": count, "shard_sizes": list(plan.sizes), "observation_size": plan.size_name,
             "split_data": ",".join(plan.split), "cluster": describe_cluster(cluster),
             "workers": used, "rho": rho, "local_steps": local_steps,
             "bias_correction": int(bias_correction), "master_steps": MASTER_STEPS,
             "pilot_converged": int(all(p["converged"] for p in pilots))}
    notes = []
    if bias_correction and not all(_definite(h) for h in likelihoods):
        notes.append("split_gibbs did not correct its bias: a shard's likelihood has a "
                     "Hessian that is not definite at its mode (it informs some parameter "
                     "too little); use a smaller rho, fewer shards or the consensus backend")
        bias_correction = False
        attrs["bias_correction"] = 0
    if bias_correction:
        coupled = coupled_precision(prior, likelihoods, rho ** 2 * covariance)
        centre = positions.reshape(-1, dimension).mean(axis=0)
        positions = centre + (positions - centre) @ correction_map(precision, coupled).T
        attrs["variance_inflation"] = float(np.linalg.det(np.linalg.solve(coupled, precision))
                                            ** (1 / dimension))
    shard_accept = np.broadcast_to(np.asarray(accept_shards)[None, :], positions.shape[:2])
    stats = {"acceptance_rate": np.stack(accept_master, axis=1),
             "shard_acceptance_rate": np.array(shard_accept)}
    return BackendResult(positions, stats, attrs=attrs, notes=tuple(notes))


def _definite(precision: np.ndarray) -> bool:
    return bool(np.linalg.eigvalsh(0.5 * (precision + precision.T)).min() > 0)


def _clipped(precision: np.ndarray) -> np.ndarray:
    """The positive semi-definite part of a symmetric matrix (a prior whose Hessian is not
    definite at the pilot's mean adds nothing to the master's metric there)."""
    values, vectors = np.linalg.eigh(0.5 * (precision + precision.T))
    return (vectors * np.maximum(values, 0.0)) @ vectors.T


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class SplitGibbs:
    """The ``split_gibbs`` backend: a split (global-consensus) Gibbs sampler on Dask."""

    name = "split_gibbs"
    description = ("split (global-consensus, ADMM-type) Gibbs sampler: a copy of the parameters "
                   "per shard of the observations, coupled to the global ones with scale rho "
                   "(in posterior sds); shards run a few HMC steps per round on Dask workers; "
                   "biased by about rho^2/shards in variance, corrected for its Gaussian part; "
                   + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        """Run :func:`run_split_gibbs` with ``options``, checked against :data:`OPTIONS`."""
        return run_split_gibbs(model, settings, **validate_options(self.name, options, OPTIONS))


__all__ = ["OPTIONS", "SplitGibbs", "combined_pilot", "correction_map", "coupled_precision",
           "run_split_gibbs"]
