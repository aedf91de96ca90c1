"""Predictions for new data from an existing fit, without refitting (:meth:`Model.predict`).

The model is bound to the new data (the fit's own data fill in what the new data leaves out;
observed quantities left out are drawn). For every posterior draw of the fit, the parameters
take their drawn values, and everything else is computed or drawn in the model's order:
definitions, the observed quantities (from their distribution given the parameters and the
new data) and the generated quantities. One program, taking the data as an argument, runs
over all draws at once (compiled once per model and data shapes).

The fit's data are its ``constant_data`` group (written by :func:`ppl.results.data_groups`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl import data as data_module
from ppl.codegen.definitions import definition_value
from ppl.codegen.missing import positions
from ppl.codegen.model import CompiledModel
from ppl.errors import DataError, SamplingError, error
from ppl.ir.graph import Node


def fit_data(fit) -> dict[str, Any]:
    """The data stored with ``fit`` (its ``constant_data`` group): arrays, sizes, and a
    declared dimension's labels as a list (a size or labels that are a dim of the arrays
    are read from that dim's coordinate)."""
    if "constant_data" not in fit.children:
        return {}
    dataset = fit["constant_data"].to_dataset()
    out: dict[str, Any] = {}
    for name, variable in dataset.data_vars.items():
        value = np.asarray(variable.values)
        out[str(name)] = value.tolist() if f"{name}_label" in variable.dims else value
    for dim, coordinate in dataset.coords.items():
        out.setdefault(str(dim), np.asarray(coordinate.values))
    for dim, length in dataset.sizes.items():  # a dimension without coordinates: its size
        out.setdefault(str(dim), int(length))
    return out


def _from_dims(model, data: dict[str, Any]) -> dict[str, Any]:
    """The fit's data for ``model``: a dim's coordinate read as the size for an ``int``
    declaration, as the labels for a ``dim`` one; a coordinate that is no data dropped."""
    declarations = {s.name: s.data_decl for s in model.checked.symbols.values()
                    if s.data_decl is not None}
    out = {}
    for name, value in data.items():
        decl = declarations.get(name)
        if decl is None:
            continue
        if decl.type.kind == "int" and not decl.type.dims and np.ndim(value) == 1:
            value = len(value)
        elif decl.type.kind == "dim":
            if np.ndim(value) == 0:  # only its size is known: the new data gives the labels
                continue
            value = list(np.asarray(value).tolist())
        out[name] = value
    return out


def merged_data(model, fit, new_data: Mapping[str, Any]) -> dict[str, Any]:
    """The new data, completed with the fit's data that it leaves out. A size the new data
    changes (``N`` read from a new ``x``) is not taken from the fit, nor is any array of the
    fit declared with that size (it must be given anew)."""
    declarations = {s.name: s.data_decl for s in model.checked.symbols.values()
                    if s.data_decl is not None}
    new = data_module.infer_sizes(declarations, dict(new_data), model.source)
    old = _from_dims(model, fit_data(fit))
    changed = {name for name, value in new.items() if name in old
               and declarations.get(name) is not None
               and declarations[name].type.kind == "int" and not declarations[name].type.dims
               and np.ndim(value) == 0 and np.ndim(old[name]) == 0
               and int(np.asarray(value)) != int(old[name])}
    kept = {}
    for name, value in old.items():
        decl = declarations.get(name)
        if name in new or decl is None:
            continue
        if any(_size_name(d) in changed for d in decl.type.dims):
            continue
        kept[name] = value
    return {**kept, **dict(new_data)}


def _size_name(dim) -> str | None:
    return getattr(dim, "id", None)


def given_parameters(model: CompiledModel, fit) -> dict[str, np.ndarray]:
    """The fit's draws of each parameter of ``model``, flattened to (chains * draws, ...);
    a parameter the fit lacks, or whose size the new data changes, is an error at its
    statement."""
    posterior = fit["posterior"]
    problems, out = [], {}
    for node in _parameters(model):
        span = node.symbol.sample.span if node.sample else node.symbol.span
        if node.name not in posterior:
            problems.append(error(f"the fit has no draws of '{node.name}'", span,
                                  "predict with the model (and file) the fit was made with"))
            continue
        draws = np.asarray(posterior[node.name].values)
        shape = tuple(int(d) for d in node.type.shape)
        if draws.shape[2:] != shape:
            sizes = ", ".join(f"{n} = {d}" for n, d in zip(node.type.dim_names, shape) if n)
            problems.append(error(
                f"'{node.name}' has shape {draws.shape[2:]} in the fit but {shape} with the "
                f"new data{f' ({sizes})' if sizes else ''}: the fit has no draws for a "
                "parameter of another size", span,
                "keep the sizes that parameters depend on as they were in the fit, or refit "
                "the model to the new data"))
            continue
        out[node.name] = draws.reshape((-1,) + shape)
    if problems:
        raise DataError(problems, model.graph.source)
    return out


def _parameters(model: CompiledModel) -> list[Node]:
    """The fitted parameters: latent nodes that are not observed quantities left out of the
    new data (those are drawn)."""
    return [n for n in model.graph.of_kind("latent") if n.symbol.kind != "observable"]


def predicted_names(model: CompiledModel) -> list[str]:
    """What a prediction records: the observed quantities (drawn), then the deterministic
    and generated quantities."""
    observed = [n.name for n in model.graph.nodes
                if n.symbol is not None and n.symbol.kind == "observable"]
    return observed + [n.name for n in model.graph.of_kind("deterministic", "generated")]


def check_predictable(model: CompiledModel) -> None:
    """Discrete latents are drawn from their conditional posterior given the data they were
    fitted to; there is no such draw for new units yet, so predicting is refused."""
    discrete = model.graph.of_kind("discrete")
    if discrete:
        node = discrete[0]
        raise SamplingError([error(
            f"predicting for new data is not available for a model with the discrete latent "
            f"'{node.name}' (summed out of the fit)", node.symbol.span,
            "draw the posterior predictive of the fitted data with "
            "sample(..., posterior_predictive=True)")], model.graph.source)


def draw_one(model: CompiledModel, given: Mapping[str, jax.Array], key) -> dict[str, jax.Array]:
    """One prediction: the parameters at ``given``, the rest computed or drawn in order."""
    env = dict(model.data)
    out = {}
    for node in model.graph.nodes:
        if node.kind == "deterministic":
            env[node.name] = out[node.name] = definition_value(node, env)
        elif node.kind == "generated" or (node.kind in ("latent", "observed")
                                          and node.symbol.kind == "observable"):
            key, sub = jax.random.split(key)
            value = model.simulate(node, env, sub)
            if node.kind == "observed":  # supplied: the data stay as given, missing entries
                # are filled in with the draw
                supplied = jnp.asarray(env[node.name], value.dtype)
                if node.name in model.imputed:
                    supplied = supplied.at[positions(env, node.name)].set(
                        value[positions(env, node.name)])
                env[node.name] = supplied
            else:
                env[node.name] = value
            out[node.name] = value
        elif node.kind == "latent":
            env[node.name] = jnp.asarray(given[node.name], model.dtype)
    return out


def run_predictions(model: CompiledModel, given: Mapping[str, np.ndarray], seed: int,
                    chains: int, draws: int) -> dict[str, np.ndarray]:
    """Every prediction, (chains, draws, ...) per recorded name, in one program that takes
    the data as an argument."""
    keys = jax.random.split(jax.random.PRNGKey(seed), chains * draws)
    names = tuple(predicted_names(model))

    def build():
        def run(values, keys, data):
            bound = model.with_data(data)
            return jax.vmap(lambda g, k: {n: v for n, v in draw_one(bound, g, k).items()
                                          if n in names})(values, keys)

        return jax.jit(run)

    out = model.program(("predict", names), build)(dict(given), keys, model.traced_data)
    return {n: np.asarray(v).reshape((chains, draws) + np.shape(v)[1:]) for n, v in out.items()}


def predictions_tree(model: CompiledModel, draws: Mapping[str, np.ndarray], *,
                     predictions: bool, seed: int):
    """The DataTree: ``predictions`` and ``predictions_constant_data`` (out of sample, ArviZ's
    names), or ``posterior_predictive`` and ``constant_data``."""
    from arviz_base import from_dict

    from ppl.results import data_groups, dims_and_coords

    group = "predictions" if predictions else "posterior_predictive"
    groups = {group: dict(draws)}
    constant = data_groups(model).get("constant_data")
    if constant:
        groups["predictions_constant_data" if predictions else "constant_data"] = constant
    dims, coords = dims_and_coords(model, list(draws) + list(constant or ()))
    tree = from_dict(groups, dims=dims, coords=coords, pred_dims=dims, pred_coords=coords,
                     index_origin=1, attrs={"/": {"inference_library": "ppl", "seed": seed}})
    return tree



def predict(model, fit, data: Any, *, seed: int, predictions: bool, precision: str):
    """:meth:`ppl.Model.predict` (``model`` is the :class:`~ppl.Model`)."""
    if "posterior" not in getattr(fit, "children", {}):
        raise SamplingError([error("predictions need a fit with a posterior group",
                                   hint="pass the result of model.sample(...) or "
                                        "ppl.load_fit(path)")], model.source)
    merged = merged_data(model, fit, data_module.as_mapping(data))
    compiled = model.compile(merged, precision, allow_missing_data=True)
    check_predictable(compiled)
    given = given_parameters(compiled, fit)
    sizes = fit["posterior"].sizes
    draws = run_predictions(compiled, given, seed, int(sizes["chain"]), int(sizes["draw"]))
    return predictions_tree(compiled, draws, predictions=predictions, seed=seed)
