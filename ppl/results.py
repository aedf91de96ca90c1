"""Backend draws -> ArviZ DataTree, identically for every backend.

Dims are named after the sizes in the model (``vector[J]`` gives the dim ``J``) and coordinates
are 1-based, like the language's indices.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Hashable, Mapping, Sequence

import jax
import numpy as np
import xarray as xr
from arviz_base import from_dict

from ppl.backends import keys as random_keys
from ppl.backends.base import BackendResult
from ppl.codegen import missing
from ppl.codegen.model import CompiledModel
from ppl.frontend.types import Type
from ppl.jax_settings import in_ppl_settings


def _dims_for(name: str, t: Type) -> list[str]:
    """Dims named after the sizes (``J``); unnamed or repeated axes (an N x N matrix) get
    ``name_dim_i``."""
    dims: list[str] = []
    for i, d in enumerate(t.dim_names):
        dims.append(d if d and d not in dims else f"{name}_dim_{i}")
    return dims


def dims_and_coords(model: CompiledModel, names) -> tuple[dict, dict]:
    dims, coords = {}, {}
    for name in names:
        if name in imputed_names(model):
            dims[name], coords[f"{name}_dim_0"] = imputed_dims(model, name)
            continue
        node = model.graph[name]
        dims[name] = _dims_for(name, node.type)
        for dim, size in zip(dims[name], node.type.shape):
            labels = model.coords.get(dim)
            coords.setdefault(dim, np.asarray(labels) if labels is not None
                              else np.arange(1, int(size) + 1))
    return dims, coords


def imputed_names(model: CompiledModel) -> list[str]:
    """The parameters holding imputed missing entries of observed data (``y_unobserved``)."""
    return [missing.unobserved_name(name) for name in model.imputed]


def imputed_dims(model: CompiledModel, name: str) -> tuple[list[str], np.ndarray]:
    """The dim of ``y_unobserved`` (``y_unobserved_dim_0``) and its labels: the 1-based
    positions of the missing entries in ``y``."""
    observed = name[: -len(missing.UNOBSERVED)]
    return [f"{name}_dim_0"], missing.coordinates(np.asarray(
        model.data[missing.missing_key(observed)]))


def _batched(model: CompiledModel, name: Hashable, fn, positions: np.ndarray, *extra):
    """Apply ``fn(bound_model, u, *extra)`` to every draw of a (chains, draws, dim) array,
    vectorised, in a program that takes the model's data as an argument (compiled once per
    model and data shapes under ``name``; ``fn`` must not depend on anything else)."""
    chains, draws = positions.shape[:2]
    flat = positions.reshape(chains * draws, -1)

    def build():
        def run(points, *rest):
            *rest, data = rest
            bound = model.with_data(data)
            return jax.vmap(lambda u, *e: fn(bound, u, *e))(points, *rest)

        return jax.jit(run)

    out = model.program(("batched", name), build)(flat, *extra, model.traced_data)
    return {k: np.asarray(v).reshape((chains, draws) + np.shape(v)[1:]) for k, v in out.items()}


def _draw_keys(seed: int, count: int) -> np.ndarray:
    """``jax.random.split(jax.random.PRNGKey(seed), count)``, bit for bit, from NumPy: JAX's
    own compiled two small programs on the way to the fit (0.2 s, cold)."""
    return random_keys.split(random_keys.seed_key(seed), count)


@in_ppl_settings
def to_datatree(model: CompiledModel, result: BackendResult, *, posterior_predictive: bool = False,
                log_likelihood: bool = False, seed: int = 0, backend: str = "",
                leave_out: Collection[str] = ()):
    """Build the DataTree: posterior (latent, discrete latents drawn from their conditional
    posterior, deterministic and generated quantities, except those in ``leave_out``),
    sample_stats, observed_data and, on request, posterior_predictive and log_likelihood."""
    positions = np.asarray(result.positions)
    chains, draws = positions.shape[:2]
    keys = _draw_keys(seed + 3, chains * draws)
    kept = [n for n in model.posterior_names if n not in leave_out]

    def posterior(bound, u, k):  # what is left out is not computed either (the jit drops it)
        values = bound.generated(u, k)
        return {n: values[n] for n in kept}

    groups: dict[str, dict] = {"posterior": _batched(model, ("posterior", tuple(kept)),
                                                     posterior, positions, keys)}
    stats = dict(result.sample_stats)
    groups["sample_stats"] = stats
    observed = model.observed_names
    data_group_values = data_groups(model)
    groups.update(data_group_values)
    if posterior_predictive and observed:
        keys = _draw_keys(seed + 1, chains * draws)
        groups["posterior_predictive"] = _batched(
            model, "predictive", lambda bound, u, k: bound.predictive(k, u), positions, keys)
    if log_likelihood and observed:
        groups["log_likelihood"] = _batched(
            model, "log_likelihood", lambda bound, u: bound.pointwise_log_likelihood(u),
            positions)
    for name, group in result.extra_groups.items():
        groups[name] = dict(group)
    names = kept + [n for values in data_group_values.values() for n in values]
    dims, coords = dims_and_coords(model, names)
    # Quantities drawn after sampling (discrete latents, generated quantities) are exact
    # conditional draws or simulations: the summary leaves them out of R-hat and ESS warnings.
    after = [n.name for n in model.graph.of_kind("discrete", "generated")]
    attrs = {"/": {"inference_library": "ppl", "backend": backend, "seed": seed,
                   **dict(result.attrs),
                   **({"drawn_after_sampling": ",".join(after)} if after else {}),
                   **({"imputed": ",".join(model.imputed)} if model.imputed else {}),
                   **({"backend_notes": json.dumps(list(result.notes))} if result.notes
                      else {})}}
    # The model's dims apply to the groups of model quantities only: a backend's statistic may
    # share a model variable's name (ADVI's ``log_weight`` and a data transform ``log_weight``)
    # without taking its dims.
    backend_groups = ["sample_stats", *result.extra_groups]
    tree = from_dict({k: v for k, v in groups.items() if k not in backend_groups},
                     dims=dims, coords=coords, attrs=attrs, index_origin=1)
    stats_tree = from_dict({k: groups[k] for k in backend_groups}, index_origin=1)
    for name in backend_groups:
        tree[name] = stats_tree[name]
    if result.state:
        tree["sampler_state"] = xr.DataTree(state_dataset(result.state))
    if model.imputed and "log_likelihood" in tree.children:
        tree["log_likelihood"] = xr.DataTree(observed_entries_only(
            tree["log_likelihood"].to_dataset(), model))
    return tree


def recompute(model: CompiledModel, fit, names: Sequence[str], seed: int = 0) -> xr.Dataset:
    """Quantities that ``fit`` did not record, computed again from its parameters' draws:
    ``recompute(model.compile(data), fit, ["mu"])`` gives ``mu`` with the dims and coordinates
    it would have had in ``fit["posterior"]``. ``model`` is the model compiled with the fit's
    data. A deterministic comes out exactly as it was during sampling; a generated quantity
    drawn with ``~`` (and a discrete parameter) is drawn afresh, from ``seed``."""
    from ppl.errors import SamplingError, error

    unknown = [n for n in names if n not in model.posterior_names]
    if unknown:
        raise SamplingError([error(f"'{n}' is not a quantity of the model's draws",
                                   hint="name deterministics, discrete parameters or generated "
                                        "quantities") for n in unknown])
    posterior = fit["posterior"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    values = {n: np.asarray(posterior[n].values).reshape((chains * draws,)
                                                         + posterior[n].shape[2:])
              for n in model.latent_names}
    positions = np.asarray(jax.jit(jax.vmap(model.unconstrain))(values))
    positions = positions.reshape(chains, draws, -1)
    keys = _draw_keys(seed, chains * draws)
    wanted = tuple(names)

    def computed(bound, u, k):
        everything = bound.generated(u, k)
        return {n: everything[n] for n in wanted}

    arrays = _batched(model, ("recompute", wanted), computed, positions, keys)
    dims, coords = dims_and_coords(model, wanted)
    base = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    return xr.Dataset({n: (["chain", "draw", *dims[n]], arrays[n]) for n in wanted},
                      coords={**base, **{d: coords[d] for n in wanted for d in dims[n]}})


def data_groups(model: CompiledModel) -> dict[str, dict[str, np.ndarray]]:
    """The data of a fit, in ArviZ's groups: ``observed_data`` (data that has a distribution,
    the likelihood's values) and ``constant_data`` (every other supplied data entry: covariates,
    indices, sizes). Each holds the values the model was fitted to. A size that names a
    dimension of the group's arrays (``N`` of ``x: real[N]``) and a ``dim`` entry are left
    out: they are the length and the coordinates of that dimension, and a variable cannot share
    a dimension's name in a Dataset. In ``constant_data`` arrays come
    before scalars, so that a tool taking "the first variable" as the covariate (ArviZ's
    ``plot_lm``) gets one rather than a size. A group with nothing in it is left out."""
    observed = {n: np.asarray(model.data[n]) for n in model.observed_names if n in model.data}
    supplied = [node for node in model.graph.of_kind("data") if node.name in model.data]
    dimensions = {d for node in supplied for d in node.type.dim_names if d}
    constant = {}
    for node in supplied:
        # A size that is a dimension of the group's arrays is that dimension's length.
        if node.name not in dimensions:
            constant[node.name] = np.asarray(model.data[node.name])
    ordered = sorted(constant, key=lambda n: constant[n].ndim == 0)  # stable: arrays first
    groups = {"observed_data": observed, "constant_data": {n: constant[n] for n in ordered}}
    return {group: values for group, values in groups.items() if values}


def observed_entries_only(dataset: xr.Dataset, model: CompiledModel) -> xr.Dataset:
    """The pointwise log-likelihood of an array with imputed entries, over its observed
    entries only (dim ``y_observed_dim_0``, coordinates their 1-based positions): imputed
    entries are parameters, not observations, and ``az.loo`` must not count them."""
    for name in model.imputed:
        where = np.argwhere(~np.isnan(np.asarray(model.data[name])))
        values = dataset[name].values[(slice(None), slice(None)) + tuple(where.T)]
        dim = f"{name}_observed_dim_0"
        dataset = dataset.drop_vars(name).assign(
            {name: (("chain", "draw", dim), values)}).assign_coords(
            {dim: missing.coordinates(where)})
    return dataset


def state_dataset(state: Mapping[str, np.ndarray]) -> xr.Dataset:
    """A backend's resumable state (arrays with the chain first) as a Dataset: dims ``chain``
    and ``<name>_dim_i``."""
    variables = {}
    for name, value in state.items():
        value = np.asarray(value)
        dims = ["chain"] + [f"{name}_dim_{i}" for i in range(value.ndim - 1)]
        variables[name] = (dims, value)
    return xr.Dataset(variables)


def backend_notes(fit) -> list[str]:
    """What the backend said about the run (recovered chains, an interruption, ...)."""
    return list(json.loads(fit.attrs.get("backend_notes", "[]")))


@in_ppl_settings
def prior_datatree(model: CompiledModel, draws: Mapping[str, np.ndarray]):
    """DataTree for prior simulation: ``prior`` (parameters) and ``prior_predictive``."""
    predictive_names = [n.name for n in model.graph.nodes if n.symbol is not None
                        and n.symbol.kind == "observable"]
    prior = {k: v[None] for k, v in draws.items() if k not in predictive_names}
    predictive = {k: v[None] for k, v in draws.items() if k in predictive_names}
    groups = {"prior": prior}
    if predictive:
        groups["prior_predictive"] = predictive
    data = data_groups(model)
    groups.update(data)
    dims, coords = dims_and_coords(model, list(draws) + [n for v in data.values() for n in v])
    return from_dict(groups, dims=dims, coords=coords, index_origin=1,
                     attrs={"/": {"inference_library": "ppl"}})
