"""Splitting a model's data into shards for the data-distributed backends.

A model can be sampled shard by shard when its log-likelihood is a sum over one observation
dimension, the leading size ``N`` of its observed arrays: ``y ~ bernoulli_logit(X * beta)``
with ``y: int[N]`` and ``X: matrix[N, D]``. Every data array whose leading size is ``N`` is
split into contiguous blocks of balanced sizes (they differ by at most one, so that the shards
share at most two compiled programs: data are arguments of the programs), ``N`` becomes the
block's size, and the other data go to every shard unchanged.

:func:`plan_shards` finds ``N`` and refuses, with an error at the statement, the models that do
not factorise that way: no observed statement, observed arrays of different sizes, one
multivariate observation over the whole vector (``y ~ multi_normal(mu, S)``), a recursion
through the observations (``y[t] ~ normal(phi * y[t-1], s)``), observations used in a
parameter's definition, a parameter or a data summary with one element per observation, a
``target +=`` term, missing observations. What the structure cannot show (a deterministic
that sums over the observations, say) the backends catch numerically before sampling:
:func:`check_factorisation` compares the shards' log-likelihoods with the whole data's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppl.codegen.model import CompiledModel
from ppl.errors import Diagnostic, ModelError, SamplingError, error
from ppl.frontend import ast
from ppl.ir.graph import Node
from ppl.library.distributions import DISTRIBUTIONS

WHY = "the data-distributed backends need a log-likelihood that is a sum over observations"
FALLBACK = "sample it with the nuts backend instead"


@dataclass(frozen=True)
class ShardPlan:
    """How the data are split: the observation size ``size_name`` (``N``) of ``total``
    observations, the arrays split along their first axis (``split``), the declared data sent
    to every shard, and each shard's ``(start, stop)`` block of observations."""

    size_name: str
    total: int
    split: tuple[str, ...]
    data_names: tuple[str, ...]
    blocks: tuple[tuple[int, int], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """The number of observations of each shard."""
        return tuple(stop - start for start, stop in self.blocks)


def balanced_blocks(total: int, shards: int) -> tuple[tuple[int, int], ...]:
    """``shards`` contiguous ``(start, stop)`` blocks of ``range(total)`` whose sizes differ by
    at most one, the larger first."""
    base, extra = divmod(total, shards)
    sizes = [base + 1] * extra + [base] * (shards - extra)
    stops = np.cumsum(sizes)
    return tuple((int(stop - size), int(stop)) for size, stop in zip(sizes, stops, strict=True))


def _located(compiled: CompiledModel, message: str, span: Any, hint: str) -> ModelError:
    return ModelError([error(message, span, hint)], compiled.graph.source)


def _sample_names(sample: ast.Sample) -> set[str]:
    return {n.id for n in ast.free_names(sample.dist)}


def _observed_size(compiled: CompiledModel, node: Node) -> str:
    """The observation size of an observed statement, or a located error saying why it has
    none."""
    spec = DISTRIBUTIONS[node.sample.dist.func]
    names = node.type.dim_names
    whole = node.type.rank <= spec.event_rank
    if whole or not names or names[0] is None:
        what = (f"'{node.name}' is one draw of the multivariate {spec.name}, over the whole "
                "array" if whole else f"'{node.name}' has no named observation size")
        raise _located(compiled, f"cannot split the observations: {what}", node.sample.span,
                       f"{WHY} (independent rows, e.g. y: vector[N] with y ~ normal(mu, "
                       f"sigma)); {FALLBACK}")
    if node.name in _sample_names(node.sample):
        raise _located(compiled, f"cannot split the observations: '{node.name}' depends on "
                       "its own earlier elements (a recursion through the observations)",
                       node.sample.span, f"{WHY}, given the parameters; {FALLBACK}")
    comprehension = node.sample.comprehension
    if comprehension is not None and not (
            isinstance(comprehension.lo, ast.Number) and comprehension.lo.value == 1):
        raise _located(compiled, f"cannot split the observations: the statement covers part "
                       f"of '{node.name}' only", node.sample.span,
                       f"write it over all of '{node.name}' (for i in 1:{names[0]}); "
                       f"{FALLBACK}")
    return names[0]


def _first_statement_span(compiled: CompiledModel) -> Any:
    for node in compiled.graph.nodes:
        if node.sample is not None:
            return node.sample.span
    return next(iter(compiled.graph.nodes)).symbol.span


def _uses_observations(compiled: CompiledModel, observed: set[str]) -> list[Diagnostic]:
    problems = []
    for node in compiled.graph.of_kind("latent", "deterministic", "observed", "discrete"):
        used = sorted(observed & set(node.parents))
        if used:
            span = node.symbol.define.span if node.symbol.define is not None else (
                node.sample.span if node.sample is not None else node.symbol.span)
            problems.append(error(
                f"cannot split the observations: '{node.name}' uses the observed "
                f"'{used[0]}'", span,
                f"{WHY}; the observations may appear only on the left of '~' ({FALLBACK})"))
    return problems


def _per_observation(compiled: CompiledModel, size: str, split: set[str]) -> list[Diagnostic]:
    """Parameters with an element per observation, data with the observation size on a later
    axis, and data summaries of the split arrays (they would be computed per shard)."""
    problems = []
    for node in compiled.graph.of_kind("latent", "discrete"):
        if size in node.type.dim_names:
            problems.append(error(
                f"cannot split the observations: the parameter '{node.name}' has an element per "
                f"observation ({size})", node.symbol.span,
                f"only parameters shared by every observation can be sampled shard by shard; "
                f"{FALLBACK}"))
    for node in compiled.graph.of_kind("data", "transformed_data"):
        names = node.type.dim_names
        if size in names[1:]:
            problems.append(error(
                f"cannot split '{node.name}': its observation size {size} is not its first "
                "axis", node.symbol.span,
                f"declare it with the observations first (e.g. matrix[{size}, D]); {FALLBACK}"))
        elif node.kind == "transformed_data" and split & set(node.parents) and \
                (not names or names[0] != size):
            problems.append(error(
                f"cannot split the observations: '{node.name}' summarises the observation data "
                "and would be computed shard by shard", node.symbol.define.span
                if node.symbol.define is not None else node.symbol.span,
                f"compute it before fitting and pass it as data; {FALLBACK}"))
    return problems


def plan_shards(compiled: CompiledModel, shards: int) -> ShardPlan:
    """The plan for splitting ``compiled``'s data into ``shards`` shards, or a located
    :class:`~ppl.ModelError` saying why its likelihood is not a sum over observations."""
    graph = compiled.graph
    observed = graph.of_kind("observed")
    if not observed:
        raise _located(compiled, "cannot split the observations: the model has no observed "
                       "statement", _first_statement_span(compiled),
                       f"{WHY}; supply the observed data (a '~' statement's left side)")
    for node in graph.of_kind("factor"):
        raise _located(compiled, "cannot split a 'target +=' term over the observations",
                       node.factor.span,
                       f"{WHY}; write the likelihood as '~' statements ({FALLBACK})")
    sizes = [(node, _observed_size(compiled, node)) for node in observed]
    size = sizes[0][1]
    for node, other in sizes[1:]:
        if other != size:
            raise _located(compiled, f"cannot split the observations: '{node.name}' is over "
                           f"{other}, '{sizes[0][0].name}' over {size}", node.sample.span,
                           f"every observed array must have the same first size; {FALLBACK}")
    if compiled.imputed:
        name = compiled.imputed[0]
        raise _located(compiled, f"cannot split '{name}': it has missing entries",
                       graph[name].sample.span,
                       "leave the incomplete rows out of the data, or use the nuts backend")
    problems = _uses_observations(compiled, {n.name for n in observed})
    data_nodes = graph.of_kind("data", "observed")
    split = {n.name for n in data_nodes if n.type.dim_names[:1] == (size,)}
    problems += _per_observation(compiled, size, split)
    if problems:
        raise ModelError(problems, graph.source)
    total = int(compiled.data[size])
    if shards > total:
        raise SamplingError([error(f"shards={shards} is more than the {total} observations "
                                   f"({size})", hint=f"pass shards={max(1, total // 2)} or "
                                   "fewer")])
    declared = tuple(n.name for n in data_nodes if n.symbol is not None
                     and n.symbol.data_decl is not None)
    return ShardPlan(size, total, tuple(n for n in declared if n in split), declared,
                     balanced_blocks(total, shards))


def shard_data(compiled: CompiledModel, plan: ShardPlan, index: int) -> dict[str, np.ndarray]:
    """The declared data of shard ``index``: its block of every split array, its size, the
    other data whole."""
    start, stop = plan.blocks[index]
    data = {}
    for name in plan.data_names:
        value = np.asarray(compiled.data[name])
        data[name] = value[start:stop] if name in plan.split else value
    data[plan.size_name] = stop - start
    return data


def factorisation_error(compiled: CompiledModel, full: Sequence[float],
                        shards: Sequence[Sequence[float]], priors: Mapping[str, Any]
                        ) -> ModelError | None:
    """The error for shards whose log-likelihoods (``shards``: one row per shard, at the same
    points as ``full``) do not add up to the whole data's, or whose log priors
    (``priors["full"]``, ``priors["shards"]``) differ; None when they agree."""
    full = np.asarray(full, np.float64)
    total = np.sum(np.asarray(shards, np.float64), axis=0)
    prior_full = np.asarray(priors["full"], np.float64)
    prior_shards = np.asarray(priors["shards"], np.float64)
    scale = 1e-7 * (1.0 + np.abs(full))
    lik_ok = np.all(np.abs(total - full) <= scale)
    prior_ok = np.all(np.abs(prior_shards - prior_full[None]) <= 1e-7 * (1 + np.abs(prior_full)))
    if lik_ok and prior_ok:
        return None
    node = compiled.graph.of_kind("observed")[0]
    what = ("the shards' log-likelihoods do not add up to the whole data's" if not lik_ok
            else "the prior changes with the shard's data")
    return _located(compiled, f"cannot split the observations: {what} (the model is not a sum "
                    "over independent observations)", node.sample.span,
                    f"{WHY}: check for sums or means over the observations in definitions; "
                    f"{FALLBACK}")


__all__ = ["ShardPlan", "balanced_blocks", "factorisation_error", "plan_shards", "shard_data"]
