"""The workers' side of the ``split_gibbs`` backend (:mod:`ppl.backends.split_gibbs`).

- :func:`pilot_shard`: the mode of a shard's subposterior (L-BFGS) and the precision there
  (minus the Hessian of its log density): the backend combines them into a Gaussian picture of
  the posterior that scales the coupling and the metrics.
- :class:`ShardChains`: a shard's auxiliary chains ``z_s`` (one per chain of the run), kept on
  the worker between rounds (a Dask actor, or an object in this process without a cluster).
  Each round it takes the master's ``theta`` and runs a few HMC transitions of
  ``z_s | theta, y_s``, whose log density is ``log p(y_s | z_s) - (z_s - theta)' R^-1
  (z_s - theta) / 2``; only ``theta`` and ``z_s`` travel, the data stay on the worker.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.optimise import lbfgs_minimiser
from ppl.backends.shard_worker import ShardTask, bound_shard, shard_arguments, subposterior
from ppl.backends.split_kernels import DualAveraging, hmc_transitions, precision_factor
from ppl.binding import SourceModel
from ppl.jax_settings import in_ppl_settings, ppl_settings

PILOT_STEPS = 1000
FIRST_STEP_SIZE = 0.5


@in_ppl_settings
def pilot_shard(task: ShardTask, model: SourceModel | None = None) -> dict[str, np.ndarray]:
    """The subposterior's mode (``mode``), the precision there (``precision``, minus the
    Hessian of ``fraction * log prior + log p(y_s | u)``) and whether L-BFGS converged."""
    compiled = bound_shard(task, model)
    target = subposterior(compiled)

    def pilot(start, data):
        mode, _, _, converged = lbfgs_minimiser(lambda u: -target(u, data), PILOT_STEPS,
                                                1e-8)(start)
        return mode, -jax.hessian(lambda u: target(u, data))(mode), converged

    program = compiled.program(("split_pilot",), lambda: jax.jit(pilot))
    start = jnp.zeros((compiled.dimension,), compiled.dtype)
    mode, precision, converged = program(start, shard_arguments(compiled, task.fraction))
    return {"mode": np.asarray(mode, np.float64), "precision": np.asarray(precision, np.float64),
            "converged": bool(converged)}


@in_ppl_settings
class ShardChains:
    """One shard's auxiliary chains (see the module's description). ``local_steps`` HMC
    transitions per round; ``metric`` the precision the metric is built from, without the
    coupling's (the shard's log-likelihood's Laplace precision)."""

    def __init__(self, task: ShardTask, z: np.ndarray, metric: np.ndarray, local_steps: int,
                 model: SourceModel | None = None) -> None:
        # Dask calls __init__ outside ppl's settings (in_ppl_settings wraps the public
        # methods only): the chains are set up in 64-bit like everything else.
        with ppl_settings():
            self._set_up(task, z, metric, local_steps, model)

    def _set_up(self, task: ShardTask, z: np.ndarray, metric: np.ndarray,
                local_steps: int, model: SourceModel | None) -> None:
        self.compiled = bound_shard(task, model)
        self.data = self.compiled.traced_data
        self.z = jnp.asarray(z, self.compiled.dtype)
        self.metric = np.asarray(metric, np.float64)
        self.local_steps = int(local_steps)
        self.key = jax.random.PRNGKey(task.seed)
        self.adaptation = DualAveraging.start(FIRST_STEP_SIZE)
        self.adapting = True
        self.coupling = np.zeros_like(self.metric)
        self.chol = jnp.asarray(precision_factor(self.metric), self.compiled.dtype)
        compiled = self.compiled

        def chains(keys, z, theta, data, coupling, chol, step_size):
            def log_target(u, centre):
                lik = compiled.with_data(data).log_density_parts(u)[1]
                gap = u - centre
                return lik - 0.5 * gap @ coupling @ gap

            def one(key, z0, centre):
                return hmc_transitions(lambda u: log_target(u, centre), key, z0, chol,
                                       step_size, self.local_steps)

            return jax.vmap(one)(keys, z, theta)

        self.program = compiled.program(("split_local", self.local_steps),
                                        lambda: jax.jit(chains))

    def set_coupling(self, coupling: np.ndarray, restart: bool) -> None:
        """Use the coupling precision ``R^-1``: the metric becomes the shard's precision plus
        it; with ``restart`` the step size is adapted afresh from the current one."""
        self.coupling = np.asarray(coupling, np.float64)
        self.chol = jnp.asarray(precision_factor(self.metric + self.coupling),
                                self.compiled.dtype)
        if restart:
            self.adaptation = DualAveraging.start(self.adaptation.step_size)

    def stop_adapting(self) -> None:
        """Keep the adapted step size from now on."""
        self.adapting = False

    def step(self, theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        """One round: ``local_steps`` transitions of every chain's ``z_s`` given its
        ``theta``; returns the new ``z_s`` (chains, dimension), the mean acceptance probability
        and the step size used."""
        step_size = self.adaptation.step_size if self.adapting else \
            self.adaptation.final_step_size
        self.key, sub = jax.random.split(self.key)
        keys = jax.random.split(sub, self.z.shape[0])
        dtype = self.compiled.dtype
        z, accept = self.program(keys, self.z, jnp.asarray(theta, dtype), self.data,
                                 jnp.asarray(self.coupling, dtype), self.chol,
                                 jnp.asarray(step_size, dtype))
        self.z = z
        accept = float(jnp.mean(accept))
        if self.adapting:
            self.adaptation = self.adaptation.update(accept)
        return np.asarray(z), accept, step_size


def call(target: Any, method: str, *args: Any) -> Any:
    """``target.method(*args)`` on a Dask actor (a future, resolved by :func:`result`) or on a
    :class:`ShardChains` in this process (the value)."""
    return getattr(target, method)(*args)


def result(value: Any) -> Any:
    """The value of what :func:`call` returned."""
    return value.result() if hasattr(value, "result") else value


__all__ = ["ShardChains", "call", "pilot_shard", "result"]
