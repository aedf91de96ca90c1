"""NUTS and static HMC through NumPyro's kernels, with NumPyro's warmup adaptation."""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from numpyro.infer import HMC as NumPyroHMC
from numpyro.infer import MCMC
from numpyro.infer import NUTS as NumPyroNUTS

from ppl.backends.base import BackendResult, RunSettings, initial_points
from ppl.codegen.model import CompiledModel

# Dense mass matrices pay off for correlated posteriors and cost little below this dimension.
DENSE_MASS_MAX_DIMENSION = 200

_EXTRA_FIELDS = ("diverging", "num_steps", "adapt_state.step_size", "energy",
                 "potential_energy", "mean_accept_prob")


def _dense(option: Any, dimension: int) -> bool:
    if option == "auto" or option is None:
        return dimension <= DENSE_MASS_MAX_DIMENSION
    return bool(option)


def default_chain_method(chains: int) -> str:
    """Chains run in parallel when there is a device per chain, else vectorised on one device.

    benchmarks/chains.py (eight schools, 4 chains, warm compilation cache, this 2-core CPU):
    parallel over 4 host devices took 0.33x the time of vectorised and sequential 0.84x. JAX
    gives the CPU one device unless XLA_FLAGS=--xla_force_host_platform_device_count=N is set
    before JAX starts, so set it to get the parallel default on a CPU.
    """
    return "parallel" if jax.local_device_count() >= chains > 1 else "vectorized"


def make_mcmc(kernel_cls, model: CompiledModel, settings: RunSettings, *,
              target_accept: float = 0.8, dense_mass: Any = "auto",
              chain_method: str | None = None, **kernel_options) -> tuple[MCMC, dict]:
    """The NumPyro MCMC object for ``model`` (reusable: a second ``run`` skips compilation)."""
    dense = _dense(dense_mass, model.dimension)
    # Jitted, so that NumPyro's eager set-up (first gradient, step-size search) runs as one
    # compiled call instead of hundreds of op-by-op dispatches.
    potential = jax.jit(lambda u: -model.jitted_log_density(u))
    kernel = kernel_cls(potential_fn=potential,
                        target_accept_prob=target_accept, dense_mass=dense, **kernel_options)
    method = chain_method or default_chain_method(settings.chains)
    mcmc = MCMC(kernel, num_warmup=settings.warmup, num_samples=settings.draws,
                num_chains=settings.chains, chain_method=method,
                progress_bar=settings.progress)
    attrs = {"target_accept": target_accept, "dense_mass": int(dense), "chain_method": method}
    if "max_tree_depth" in kernel_options:
        attrs["max_tree_depth"] = kernel_options["max_tree_depth"]
    return mcmc, attrs


def starting_state(model: CompiledModel, seed: int, chains: int, init: str = "auto"
                   ) -> tuple[jax.Array, jax.Array]:
    """The random key of the run with ``seed`` and its starting points of strategy ``init``
    (see :func:`initial_points`), one per chain (a single point for one chain)."""
    init_key, run_key = jax.random.split(jax.random.PRNGKey(seed))
    inits = initial_points(model, init_key, chains, init)
    return run_key, inits if chains > 1 else inits[0]


def run_from(mcmc: MCMC, run_key: jax.Array, inits: jax.Array) -> None:
    """Run ``mcmc`` from ``inits``, recording the fields the results need."""
    mcmc.run(run_key, init_params=inits, extra_fields=_EXTRA_FIELDS)


def run_prepared(mcmc: MCMC, model: CompiledModel, seed: int, chains: int,
                 init: str = "auto") -> None:
    """Run ``mcmc`` from the starting points of strategy ``init``."""
    run_from(mcmc, *starting_state(model, seed, chains, init))


def run_mcmc(kernel_cls, model: CompiledModel, settings: RunSettings,
             **options) -> BackendResult:
    init = options.pop("init", "auto")
    mcmc, attrs = make_mcmc(kernel_cls, model, settings, **options)
    attrs["init"] = init
    run_prepared(mcmc, model, settings.seed, settings.chains, init)
    positions = np.asarray(mcmc.get_samples(group_by_chain=True))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    num_steps = np.asarray(extra["num_steps"])
    stats = {
        "diverging": np.asarray(extra["diverging"], dtype=bool),
        "n_steps": num_steps,
        "tree_depth": np.floor(np.log2(np.maximum(num_steps, 1))).astype(int) + 1,
        "step_size": np.asarray(extra["adapt_state.step_size"]),
        "energy": np.asarray(extra["energy"]),
        "lp": -np.asarray(extra["potential_energy"]),
        "acceptance_rate": np.asarray(extra["mean_accept_prob"]),
    }
    return BackendResult(positions, stats, attrs=attrs)


class NUTS:
    name = "nuts"
    description = ("No-U-Turn sampler (NumPyro) with step-size and mass-matrix adaptation; "
                   "options: target_accept, max_tree_depth, dense_mass, chain_method, "
                   "init (auto, laplace, uniform, prior)")

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        options.setdefault("max_tree_depth", 10)
        return run_mcmc(NumPyroNUTS, model, settings, **options)


class HMC:
    name = "hmc"
    description = ("static-trajectory Hamiltonian Monte Carlo (NumPyro) with adaptation; "
                   "options: trajectory_length (default pi/2) or num_steps, target_accept, "
                   "dense_mass, chain_method")

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        # A quarter period of a standardised Gaussian: after mass-matrix adaptation this gives
        # nearly independent draws, while 2 pi (NumPyro's default) returns to the start.
        if "num_steps" not in options:
            options.setdefault("trajectory_length", math.pi / 2)
        return run_mcmc(NumPyroHMC, model, settings, **options)


__all__ = ["NUTS", "HMC"]
