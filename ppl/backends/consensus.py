"""Consensus Monte Carlo (Scott, Blocker, Bonassi, Chipman, George and McCulloch 2016, "Bayes
and big data: the consensus Monte Carlo algorithm"): the observations are split into shards
(:mod:`ppl.backends.sharding`), each shard's subposterior ``p(u)^(1/S) p(y_s | u)`` is sampled
with NUTS on its own Dask worker (:mod:`ppl.backends.shard_worker`), and the shards' draws are
combined by precision-weighted averaging on the unconstrained space: draw ``t`` of chain ``c``
is ``(sum_s W_s)^-1 sum_s W_s u_s[c, t]`` with ``W_s`` the inverse of shard ``s``'s sample
covariance.

The combination is exact when every subposterior is Gaussian (then so is their product, the
posterior); otherwise it is an approximation whose error shrinks as each shard's subposterior
becomes more Gaussian (more observations per shard). It is not exact for skewed or multimodal
subposteriors, nor for parameters that few observations inform. The weights are estimated
from the draws, and their sampling error moves the combined means by more than the draws'
effective sample size shows, of the order of ``sqrt(S D / draws)`` posterior sds (the shards'
means scatter by about ``sqrt(S)`` posterior sds, and a relative error in the weights weighs
that scatter; measured in benchmarks/README.md); it shrinks as the draws per shard grow.
The shards never communicate: one round of work per shard, which is what makes it fast on a
cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ppl.backends.base import BackendResult, RunSettings
from ppl.backends.distributed import (
    SHARD_OPTIONS,
    checked_plan,
    describe_cluster,
    shard_runner,
    shard_tasks,
)
from ppl.backends.options import TARGET_ACCEPT, describe_options, validate_options
from ppl.backends.shard_worker import run_shard
from ppl.codegen.model import CompiledModel
from ppl.jax_settings import in_ppl_settings

OPTIONS = SHARD_OPTIONS + (TARGET_ACCEPT,)
"""The options of the ``consensus`` backend."""


def consensus_weights(draws: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each shard's weight ``W_s``, the inverse of its draws' covariance (draws pooled over
    chains); a dimension a shard's draws leave constant is regularised by a tiny ridge."""
    weights = []
    for z in draws:
        flat = np.reshape(z, (-1, z.shape[-1])).astype(np.float64)
        cov = np.atleast_2d(np.cov(flat, rowvar=False))
        ridge = 1e-12 * max(float(np.trace(cov)) / len(cov), 1e-300)
        weights.append(np.linalg.inv(cov + ridge * np.eye(len(cov))))
    return weights


def consensus_draws(draws: Sequence[np.ndarray]) -> np.ndarray:
    """The shards' draws (each (chains, draws, dimension)) combined draw by draw, weighted by
    their precisions (:func:`consensus_weights`)."""
    weights = consensus_weights(draws)
    total = np.sum(weights, axis=0)
    weighted = sum(np.einsum("ij,cdj->cdi", w, np.asarray(z, np.float64))
                   for w, z in zip(weights, draws, strict=True))
    return np.linalg.solve(total, weighted.reshape(-1, total.shape[0]).T).T.reshape(
        np.shape(draws[0]))


def run_consensus(model: CompiledModel, settings: RunSettings, *, shards: int = 4,
                  cluster: Any = "local", workers: int | None = None,
                  target_accept: float = 0.8) -> BackendResult:
    """Consensus Monte Carlo over ``shards`` shards on ``cluster`` (options already checked)."""
    with shard_runner(model, cluster, workers) as runner:
        plan = checked_plan(model, shards, runner, settings.seed)
        tasks = shard_tasks(model, plan, settings.seed, chains=settings.chains,
                            warmup=settings.warmup, draws=settings.draws,
                            options={"target_accept": target_accept})
        runs = runner.map(run_shard, tasks)
        used = runner.workers
    positions = consensus_draws([r["z"] for r in runs])
    diverging = np.stack([np.asarray(r["stats"]["diverging"], bool) for r in runs])
    stats = {"diverging": diverging.any(axis=0),
             "shard_divergences": diverging.sum(axis=0).astype(np.int64),
             "n_steps": np.sum([r["stats"]["n_steps"] for r in runs], axis=0)}
    notes = []
    for i, run in enumerate(runs):
        notes += [f"shard {i + 1}: {note}" for note in run["notes"]]
    attrs = {"shards": len(plan.blocks), "shard_sizes": list(plan.sizes),
             "observation_size": plan.size_name, "split_data": ",".join(plan.split),
             "cluster": describe_cluster(cluster), "workers": used,
             "target_accept": target_accept, "dense_mass": int(runs[0]["dense"]),
             "shard_step_size": [float(np.mean(r["stats"]["step_size"])) for r in runs],
             "combination": "precision-weighted average (unconstrained space)"}
    return BackendResult(positions, stats, attrs=attrs, notes=tuple(notes))


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class Consensus:
    """The ``consensus`` backend: consensus Monte Carlo on a Dask cluster."""

    name = "consensus"
    description = ("consensus Monte Carlo: the observations split into shards, each shard's "
                   "subposterior sampled by NUTS on a Dask worker, the draws combined by "
                   "precision-weighted averaging (exact for Gaussian posteriors); "
                   + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        """Run :func:`run_consensus` with ``options``, checked against :data:`OPTIONS`."""
        return run_consensus(model, settings, **validate_options(self.name, options, OPTIONS))


__all__ = ["Consensus", "OPTIONS", "consensus_draws", "consensus_weights", "run_consensus"]
