"""NUTS with a low-rank mass matrix: nutpie's adaptation, through BlackJAX.

``nuts`` with ``adaptation="low_rank"`` runs BlackJAX's NUTS kernel with
``blackjax.window_adaptation_low_rank`` (Stan's three-phase warm-up with the metric chosen to
minimise the sample Fisher divergence of draws and gradients: a diagonal scaling plus a
correction in the few directions where the posterior is most stretched or squeezed, as
nutpie does). It needs O(d k) memory and work per gradient where a dense metric needs O(d^2),
and adapts from gradients as well as draws, so it learns a correlated posterior's shape from
fewer warm-up draws.

What it does not share with the default path (:mod:`ppl.backends.hmc_chains`): warm-up and
sampling each run as one compiled call (no live progress between chunks, no Ctrl-C keeping
the draws so far), no restart of a collapsed chain at the end of warm-up, and no resume.
Divergences, R-hat, ESS and the rest are checked on the results as for any fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.base import BackendResult, RunSettings
from ppl.backends.chain_layout import devices_for
from ppl.backends.target_choice import starting_target
from ppl.codegen.model import CompiledModel

# At most this many directions in the metric's low-rank correction (nutpie's default).
MAX_RANK = 10


def _guarded(log_density):
    """``log_density`` with NaN and ``+inf`` as ``-inf``: a point the kernel rejects as a
    divergence, never one it accepts with certainty."""

    def guarded(u):
        value = log_density(u)
        return jnp.where(jnp.isnan(value) | (value == jnp.inf), -jnp.inf, value)

    return guarded


def _one_chain(model: CompiledModel, settings: RunSettings, target_accept: float,
               max_tree_depth: int):
    """``(point, key, data) -> (trace, step size)``: one chain's warm-up and draws."""
    import blackjax

    def run(point, key, data):
        log_density = _guarded(lambda u: model.log_density_with(u, data))
        warmup = blackjax.window_adaptation_low_rank(
            blackjax.nuts, log_density, max_rank=min(MAX_RANK, model.dimension),
            target_acceptance_rate=target_accept, max_num_doublings=max_tree_depth)
        warm_key, draw_key = jax.random.split(key)
        (state, parameters), _ = warmup.run(warm_key, point, num_steps=settings.warmup)
        kernel = blackjax.nuts(log_density, **parameters)

        def step(state, step_key):
            state, info = kernel.step(step_key, state)
            return state, {"z": state.position, "lp": state.logdensity,
                           "diverging": info.is_divergent,
                           "num_steps": info.num_integration_steps,
                           "energy": info.energy, "accept_prob": info.acceptance_rate}

        _, trace = jax.lax.scan(step, state, jax.random.split(draw_key, settings.draws))
        return trace, parameters["step_size"]

    return run


def run_low_rank(model: CompiledModel, settings: RunSettings, options: Mapping[str, Any],
                 points, key, method: str) -> BackendResult:
    """Warm up and sample ``settings.chains`` chains from ``points`` (chains, dimension) with
    the low-rank metric; chains in parallel over devices (``method="parallel"``, grouped as
    in :func:`~ppl.backends.chain_layout.devices_for`) or vectorised."""
    chains = settings.chains
    target_accept = starting_target(options)  # "auto" raises nothing here
    max_tree_depth = int(options.get("max_tree_depth") or 10)
    points = jnp.reshape(jnp.asarray(points), (chains, model.dimension))
    keys = jax.random.split(key, chains)
    groups = devices_for(chains, jax.local_device_count()) if method == "parallel" else 1
    layout = "sequential" if method == "sequential" else "grouped" if groups > 1 else "vmap"

    def build():
        run = _one_chain(model, settings, target_accept, max_tree_depth)
        if layout == "sequential":
            return jax.jit(run)
        if layout == "grouped":
            return jax.pmap(jax.vmap(run, in_axes=(0, 0, None)), in_axes=(0, 0, None))
        return jax.jit(jax.vmap(run, in_axes=(0, 0, None)))

    # Kept with the model's programs: a second fit of data of the same shapes reuses it.
    program = model.program(("low_rank", settings.warmup, settings.draws, target_accept,
                             max_tree_depth, layout, groups), build)
    data = model.traced_data
    if layout == "sequential":
        outs = [program(p, k, data) for p, k in zip(points, keys, strict=True)]
        trace = {n: np.stack([np.asarray(o[0][n]) for o in outs]) for n in outs[0][0]}
        step_size = np.stack([np.asarray(o[1]) for o in outs])
    elif layout == "grouped":
        trace, step_size = program(points.reshape(groups, -1, model.dimension),
                                   keys.reshape(groups, -1, *keys.shape[1:]), data)
        trace = {n: np.asarray(v).reshape((chains,) + v.shape[2:]) for n, v in trace.items()}
        step_size = np.asarray(step_size).reshape(chains)
    else:
        trace, step_size = program(points, keys, data)
        trace = {n: np.asarray(v) for n, v in trace.items()}
    num_steps = trace["num_steps"]
    stats = {
        "diverging": trace["diverging"].astype(bool),
        "n_steps": num_steps,
        "tree_depth": np.floor(np.log2(np.maximum(num_steps, 1))).astype(int) + 1,
        "step_size": np.broadcast_to(np.asarray(step_size)[:, None], num_steps.shape).copy(),
        "energy": trace["energy"],
        "lp": trace["lp"],
        "acceptance_rate": trace["accept_prob"],
    }
    return BackendResult(trace["z"], stats)
