"""The backend interface and registry.

A backend receives a :class:`CompiledModel` (a log-density over a flat unconstrained vector,
its transforms and an initialiser) and returns draws on the *unconstrained* space plus its own
diagnostics; :mod:`ppl.results` turns them into an ArviZ DataTree the same way for every backend.
Third-party packages register backends under the entry-point group ``ppl.backends``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import jax
import numpy as np

from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error

ENTRY_POINT_GROUP = "ppl.backends"


@dataclass(frozen=True)
class BackendResult:
    """``positions``: (chains, draws, dimension) unconstrained draws.
    ``sample_stats``: name -> (chains, draws) arrays. ``extra_groups``: further DataTree groups
    (e.g. an ELBO trace), name -> {variable: array}. ``attrs``: settings worth recording."""

    positions: np.ndarray
    sample_stats: Mapping[str, np.ndarray] = field(default_factory=dict)
    extra_groups: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 0
    progress: bool = False


class Backend(Protocol):
    """What a backend provides: a name, a one-line description and ``run``."""

    name: str
    description: str

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        ...


def _builtin() -> dict[str, Backend]:
    from ppl.backends.advi import ADVI
    from ppl.backends.map import MAP
    from ppl.backends.nuts import HMC, NUTS
    from ppl.backends.pathfinder import Pathfinder
    from ppl.backends.smc import SMC

    return {b.name: b for b in (NUTS(), HMC(), ADVI(), MAP(), SMC(), Pathfinder())}


def available_backends() -> dict[str, Backend]:
    """Built-in backends plus those registered through the ``ppl.backends`` entry points."""
    backends = _builtin()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in backends:
            backends[ep.name] = ep.load()()
    return backends


def get_backend(name: str) -> Backend:
    backends = available_backends()
    if name not in backends:
        raise SamplingError([error(f"unknown backend '{name}'",
                                   hint=f"available backends: {', '.join(sorted(backends))}")])
    return backends[name]


def finite_initial_points(model: CompiledModel, key, chains: int, tries: int = 100) -> jax.Array:
    """Uniform(-2, 2) starting points with a finite log-density, one per chain.

    When no point is found, the error names the statements whose term is not finite.
    """
    # Candidates come from NumPy (seeded by the key) and are scored with the model's jitted
    # log-density, which the samplers compile anyway: no extra compilation before sampling.
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    dtype = np.dtype(model.dtype)
    points = []
    for _ in range(tries):
        candidates = rng.uniform(-2.0, 2.0, (chains, model.dimension)).astype(dtype)
        points += [c for c in candidates if np.isfinite(float(model.jitted_log_density(c)))]
        if len(points) >= chains:
            return jax.numpy.asarray(np.stack(points[:chains]))
    raise bad_start_error(model, candidates[0])


def prior_centred_points(model: CompiledModel, key, chains: int, draws: int = 100,
                         jitter: float = 1.0) -> jax.Array:
    """Starting points around the prior: the median of ``draws`` prior draws on the
    unconstrained space plus uniform(-jitter, jitter) noise per chain (PyMC's idea). Starts in
    the region the prior finds plausible, e.g. for ODE models whose dynamics are wild at
    uniform(-2, 2) starts. Needs proper priors."""
    prior_key, jitter_key = jax.random.split(key)
    samples = jax.jit(jax.vmap(model.prior_draw))(jax.random.split(prior_key, draws))
    latents = {name: samples[name] for name in model.latent_names}
    flat = jax.jit(jax.vmap(model.unconstrain))(latents)
    centre = jax.numpy.nanmedian(flat, axis=0)
    noise = jax.random.uniform(jitter_key, (chains, model.dimension), centre.dtype,
                               -jitter, jitter)
    points = centre[None, :] + noise
    values = np.asarray(jax.jit(jax.vmap(model.log_density))(points))
    if not np.all(np.isfinite(values)):
        return finite_initial_points(model, jitter_key, chains)
    return points


def initial_points(model: CompiledModel, key, chains: int, init: str = "uniform"
                   ) -> jax.Array:
    """Starting points by strategy: ``"uniform"`` (uniform(-2, 2) on the unconstrained space,
    as Stan) or ``"prior"`` (around the prior median, see :func:`prior_centred_points`)."""
    if init == "uniform":
        return finite_initial_points(model, key, chains)
    if init == "prior":
        return prior_centred_points(model, key, chains)
    raise SamplingError([error(f"unknown init '{init}'", hint="use init='uniform' or 'prior'")])


def bad_start_error(model: CompiledModel, point) -> SamplingError:
    import warnings

    from ppl.errors import Diagnostic

    diagnostics = []
    values = model.constrain(point)
    with warnings.catch_warnings():  # NumPyro's out-of-support warning: we explain it below
        warnings.simplefilter("ignore")
        terms = model.statement_terms(point)
    for node, term in terms:
        term = float(term)
        if np.isfinite(term):
            continue
        stmt = node.factor or node.symbol.sample or node.symbol.define or node.symbol.data_decl
        parents = ", ".join(f"{p} = {_short(values[p])}" for p in node.parents if p in values)
        diagnostics.append(Diagnostic(
            f"the log-density of this statement is {term} at every random starting point tried"
            + (f" (e.g. with {parents})" if parents else ""),
            stmt.span,
            "check the arguments' supports (a scale must be positive, a probability in [0, 1]) "
            "and the data against the distribution's support"))
    if not diagnostics:
        diagnostics.append(Diagnostic("the log-density is not finite at any starting point tried",
                                      hint="check the model's constraints"))
    return SamplingError(diagnostics, model.graph.source)


def _short(value) -> str:
    arr = np.asarray(value)
    if arr.size <= 3:
        return np.array2string(arr, precision=3)
    return np.array2string(arr.ravel()[:3], precision=3)[:-1] + " ...]"
