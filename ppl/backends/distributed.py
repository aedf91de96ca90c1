"""What the data-distributed backends (``consensus``, ``split_gibbs``) share: their cluster
options, the shards' seeds, and running functions of the shards on a Dask cluster or in this
process (:class:`ShardRunner`), with the check that the shards' log-likelihoods add up to the
whole data's before anything is sampled.

The cluster is Dask's, as for :func:`ppl.fit_many` (:func:`ppl.cluster.dask_client`):
``cluster="local"`` starts a ``LocalCluster`` of single-threaded worker processes (``workers``
of them, by default one per core), an address such as ``"tcp://host:8786"`` uses the workers of
an existing scheduler (they need ppl installed), a ``distributed.Client`` is used as it is, and
``None`` runs the shards one after the other in this process. Each shard gets its own seed,
derived from the run's seed and the shard's index, so the draws do not depend on the number of
workers or which worker ran which shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ppl.backends.options import INT, Kind, Option, at_least
from ppl.backends.shard_worker import ShardTask, check_shard, local_model
from ppl.backends.sharding import ShardPlan, factorisation_error, plan_shards, shard_data
from ppl.binding import SourceModel
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error


def _is_cluster(value: Any) -> bool:
    if value is None or (isinstance(value, str) and (value in ("local", "none")
                                                     or "://" in value)):
        return True
    return type(value).__name__ == "Client" and type(value).__module__.startswith("distributed")


CLUSTER = Kind("'local', a scheduler address such as 'tcp://host:8786', a distributed.Client "
               "or None ('none' on the command line)", _is_cluster, ("local", "none"))

SHARD_OPTIONS: tuple[Option, ...] = (
    Option("shards", INT, 4, at_least(1), doc="how many blocks the observations are split into"),
    Option("cluster", CLUSTER, "local",
           doc="where the shards run: a local Dask cluster, a scheduler's address, a client, "
               "or None for this process"),
    Option("workers", INT, None, at_least(1),
           doc="the local cluster's worker processes; by default one per core"),
)
"""The options both data-distributed backends take."""


def shard_seeds(seed: int, shards: int) -> list[int]:
    """One seed per shard, from the run's seed (the same whatever the number of workers)."""
    return [int(s) for s in np.random.SeedSequence([seed, 0x5EED]).generate_state(shards)]


def describe_cluster(cluster: Any) -> str:
    """The cluster as recorded in a fit's attributes."""
    if cluster is None or isinstance(cluster, str):
        return "none" if cluster is None else cluster
    return str(getattr(cluster, "scheduler_info", lambda: {})().get("address", "client"))


@dataclass
class ShardRunner:
    """Runs a function of a :class:`ShardTask` for every shard, on a Dask client or (without
    one) in this process with one :class:`~ppl.binding.SourceModel` shared by the shards."""

    client: Any
    text: str
    name: str
    model: SourceModel | None = None  # the model in this process, without a client

    def map(self, function: Callable, tasks: Sequence[ShardTask]) -> list:
        """``function(task)`` for each task, in order."""
        if self.client is None:
            return [function(task, self.model) for task in tasks]
        futures = self.client.map(function, list(tasks), pure=False)
        return self.client.gather(futures)

    @property
    def workers(self) -> int:
        """How many workers run the shards (1 in this process)."""
        if self.client is None:
            return 1
        return len(self.client.scheduler_info().get("workers", {})) or 1


@contextmanager
def shard_runner(compiled: CompiledModel, cluster: Any, workers: int | None
                 ) -> Iterator[ShardRunner]:
    """A :class:`ShardRunner` for ``cluster`` (see the module's description)."""
    source = compiled.graph.source
    if cluster is None or cluster == "none":
        if workers is not None:
            raise SamplingError([error("workers applies to a local cluster only",
                                       hint="with cluster=None the shards run in this "
                                            "process; leave workers out")])
        yield ShardRunner(None, source.text, source.name,
                          local_model(source.text, source.name, compiled.programs))
        return
    from ppl.cluster import PLUGIN_NAME, ModelCache, dask_client

    with dask_client(cluster, workers) as client:
        client.register_plugin(ModelCache(), name=PLUGIN_NAME)
        yield ShardRunner(client, source.text, source.name)


def shard_tasks(compiled: CompiledModel, plan: ShardPlan, seed: int, **common: Any
                ) -> list[ShardTask]:
    """A task per shard of ``plan``, with its data and seed and the ``common`` settings."""
    source = compiled.graph.source
    seeds = shard_seeds(seed, len(plan.blocks))
    return [ShardTask(source.text, source.name, i, shard_data(compiled, plan, i),
                      1.0 / len(plan.blocks), seed=seeds[i],
                      dtype=str(np.dtype(compiled.dtype)), **common)
            for i in range(len(plan.blocks))]


def checked_plan(compiled: CompiledModel, shards: int, runner: ShardRunner, seed: int
                 ) -> ShardPlan:
    """The shard plan (:func:`~ppl.backends.sharding.plan_shards`), after checking on the
    workers that at two random points the shards' log priors equal the whole model's and
    their log-likelihoods add up to its log-likelihood."""
    plan = plan_shards(compiled, shards)
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1.0, 1.0, (2, compiled.dimension)).astype(np.dtype(compiled.dtype))
    tasks = shard_tasks(compiled, plan, seed, points=points)
    parts = runner.map(check_shard, tasks)
    program = jax.jit(jax.vmap(compiled.log_density_parts))
    prior, lik = (np.asarray(p, np.float64) for p in program(jax.numpy.asarray(points)))
    problem = factorisation_error(compiled, lik, [p[1] for p in parts],
                                  {"full": prior, "shards": [p[0] for p in parts]})
    if problem is not None:
        raise problem
    return plan


__all__ = ["CLUSTER", "SHARD_OPTIONS", "ShardRunner", "checked_plan", "describe_cluster",
           "shard_runner", "shard_seeds", "shard_tasks"]
