"""What a worker of the data-distributed backends does with its shard of the data.

A worker rebuilds the model from its source text (:class:`ppl.binding.SourceModel`, kept by the
worker's :class:`ppl.cluster.ModelCache` plugin, so that the shards a worker runs share its
compiled programs) and binds its shard's data. The shard's target is its *subposterior* on the
unconstrained space, ``fraction * log prior + log p(y_s | u)`` with ``fraction = 1 / shards``
(the log |Jacobian| belongs to the prior, so the product of the shards' targets is the full
posterior of the unconstrained vector). The fraction goes into the compiled programs as part of
the data, so runs with other numbers of shards but shards of the same size reuse them.

- :func:`check_shard`: the shard's log prior and log-likelihood at given points (the backends
  check that the shards' log-likelihoods add up to the whole data's before sampling).
- :func:`run_shard`: NUTS on the subposterior (consensus Monte Carlo), with the machinery of the
  ``nuts`` backend (:mod:`ppl.backends.hmc_chains`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.hmc_chains import run_chains
from ppl.backends.nuts import kernel_config, noted_starting_state, result_of
from ppl.binding import SourceModel
from ppl.codegen.model import CompiledModel
from ppl.codegen.programs import ProgramCache
from ppl.jax_settings import in_ppl_settings
from ppl.source import Source

# The name of the prior's weight among the data the shard programs take.
FRACTION = "__prior_fraction"


@dataclass(frozen=True)
class ShardTask:
    """One shard's work (plain values: sent to a worker). ``data``: the shard's declared data;
    ``fraction``: the prior's power (1 / shards); ``points``: (k, dimension) points at which
    :func:`check_shard` evaluates the shard."""

    text: str
    name: str
    index: int
    data: Mapping[str, Any]
    fraction: float
    seed: int = 0
    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    dtype: str = "float64"
    options: Mapping[str, Any] = field(default_factory=dict)
    points: Any = None


def source_model(task: ShardTask, model: SourceModel | None = None) -> SourceModel:
    """The model of ``task``'s source: ``model`` when given (in-process runs), else the one the
    Dask worker running the task keeps."""
    if model is not None:
        return model
    from distributed import get_worker

    from ppl.cluster import PLUGIN_NAME

    return get_worker().plugins[PLUGIN_NAME].model(SourceModel, task.text, task.name)


def local_model(text: str, name: str, programs: ProgramCache | None = None) -> SourceModel:
    """A :class:`SourceModel` for in-process runs (``cluster=None``); ``programs``: the
    compiled programs to share (the whole-data model's, so that a second run compiles
    nothing)."""
    return SourceModel(Source(text, name), programs)


def bound_shard(task: ShardTask, model: SourceModel | None = None) -> CompiledModel:
    """The model bound to the shard's data."""
    return source_model(task, model).compile(task.data, jnp.dtype(task.dtype))


def subposterior(compiled: CompiledModel):
    """The shard's target ``log_density(u, data)``, the data holding :data:`FRACTION`."""

    def log_density(u, data):
        data = dict(data)
        fraction = data.pop(FRACTION)
        prior, lik = compiled.with_data(data).log_density_parts(u)
        return fraction * prior + lik

    return log_density


def shard_arguments(compiled: CompiledModel, fraction: float) -> dict[str, Any]:
    """The data the shard programs take: the traced data and the prior's fraction."""
    return {**compiled.traced_data, FRACTION: jnp.asarray(fraction, compiled.dtype)}


@in_ppl_settings
def check_shard(task: ShardTask, model: SourceModel | None = None) -> tuple[np.ndarray, ...]:
    """``(log prior, log-likelihood)`` of the shard at each of ``task.points``."""
    compiled = bound_shard(task, model)
    program = compiled.program(("shard_parts",), lambda: jax.jit(jax.vmap(
        lambda u, data: compiled.with_data(data).log_density_parts(u), (0, None))))
    prior, lik = program(jnp.asarray(task.points, compiled.dtype), compiled.traced_data)
    return np.asarray(prior, np.float64), np.asarray(lik, np.float64)


@in_ppl_settings
def run_shard(task: ShardTask, model: SourceModel | None = None) -> dict[str, Any]:
    """NUTS on the shard's subposterior: its draws ``z`` (chains, draws, dimension), the
    sampler's per-draw statistics, settings and notes."""
    compiled = bound_shard(task, model)
    options = dict(task.options)
    config = kernel_config("NUTS", compiled, options)
    run_key, points, notes = noted_starting_state(compiled, task.seed, task.chains,
                                                  options.get("init", "auto"))
    run = run_chains(subposterior(compiled), config, np.reshape(points, (task.chains, -1)),
                     run_key, task.warmup, task.draws, "vectorized",
                     data=shard_arguments(compiled, task.fraction),
                     programs=lambda key, build: compiled.program(("subposterior",) + key,
                                                                  build))
    result = result_of(run, {})
    result = dataclasses.replace(result, notes=tuple(notes) + result.notes)
    return {"z": np.asarray(result.positions), "stats": dict(result.sample_stats),
            "notes": list(result.notes), "dense": bool(config.dense)}


__all__ = ["FRACTION", "ShardTask", "bound_shard", "check_shard", "local_model", "run_shard",
           "shard_arguments", "subposterior"]
