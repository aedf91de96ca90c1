"""Variational guides written in the language, compiled against a compiled model.

A guide is a program of the language: ``param NAME: TYPE [BOUNDS]`` declares a variational
parameter (its bounds or constrained type give its support, through the usual transforms), a
``~`` statement gives one latent of the model its distribution under ``q`` (by the model's
name; arguments may use parameters, the model's data and other latents of the guide, so a
guide can be structured: ``theta_raw ~ normal(m + c * mu, exp(log_s))``), and definitions
name intermediate values. The model's data (and definitions computed from data, and
functions) may be used without being declared again.

:func:`compile_guide` parses and checks the guide with the model's data declarations added,
lowers it to a graph in which the parameters are latents with flat priors, compiles it with
the model's data (:func:`ppl.codegen.model.compile_graph`) and checks it against the model
(:mod:`ppl.codegen.guide_check`). The result, a :class:`CompiledGuide`, samples the latents
given the unconstrained parameters and a key (differentiably: ``reparameterised`` draws go
through NumPyro's samplers, whose gamma, beta and Dirichlet draws carry implicit
reparameterisation gradients) and evaluates ``log q``. Its functions take the guide's traced
data as an argument, like the model's.

A discrete ``~`` statement for a name that the model does not have is an *auxiliary*
variable of the guide (``c ~ categorical(w)``, then ``mu ~ normal(m[c], s[c])``: a mixture):
``log q`` of the model's latents sums it out exactly, as a model's discrete latents are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.codegen import guide_check
from ppl.codegen.definitions import definition_value
from ppl.codegen.layout import support
from ppl.codegen.model import CompiledModel, compile_graph
from ppl.codegen.simulate import sample_shaped
from ppl.codegen.transforms import biject_to
from ppl.codegen.truncation import Truncated
from ppl.errors import ModelError, error
from ppl.frontend import ast
from ppl.frontend.check import check
from ppl.frontend.parse import parse
from ppl.ir.graph import Node
from ppl.ir.lower import lower
from ppl.library.distributions import DISTRIBUTIONS
from ppl.source import Source

# Families whose NumPyro sampler is differentiated implicitly (through jax.random.gamma's
# implicit gradient, Figurnov et al. 2018) rather than by an explicit location-scale map.
IMPLICIT_FAMILIES = frozenset({"gamma", "inv_gamma", "beta", "beta_proportion", "dirichlet",
                               "chi_square", "inv_chi_square", "scaled_inv_chi_square",
                               "student_t", "half_student_t", "multi_student_t"})


def reparameterisable(dist) -> bool:
    """Whether draws of ``dist`` are differentiable in its parameters: NumPyro's
    ``has_rsample``, except for truncated distributions, drawn by solving CDF equations by
    bisection, whose gradient is not that of the draw (they take the score function)."""
    return bool(getattr(dist, "has_rsample", False)) and not isinstance(dist, Truncated)


@dataclass(frozen=True)
class GuideDraw:
    """One draw of a guide: ``values`` of the model's latents (and auxiliary variables),
    ``log_q`` (the density of the model's latents under q, auxiliaries summed out),
    ``score_terms`` (the summed log densities of the latents drawn with stopped gradients,
    given their parents: what a score-function estimator differentiates), ``aux_terms``
    (the summed log probabilities of the auxiliary variables given fixed values)."""

    values: dict[str, jax.Array]
    log_q: jax.Array
    score_terms: jax.Array
    aux_terms: jax.Array


@dataclass(frozen=True)
class CompiledGuide:
    """A guide compiled against a model (see the module docstring).

    ``program``: the guide as a compiled program of the language (its ``param`` declarations
    are latents with flat priors). ``latents``: the model's latents, in the model's order.
    ``params``: the variational parameters, in the guide's order. ``auxiliary``: discrete
    variables of the guide that the model does not have. ``families``: each latent's
    distribution in the guide."""

    program: CompiledModel
    latents: tuple[str, ...]
    params: tuple[str, ...]
    auxiliary: tuple[str, ...]
    families: Mapping[str, str]

    @property
    def traced_data(self) -> dict[str, jax.Array]:
        """The data values the guide's functions take as an argument."""
        return self.program.traced_data

    @cached_property
    def _nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.program.graph.nodes
                     if n.kind in ("latent", "discrete", "deterministic"))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each variational parameter's unconstrained shape."""
        return {b.name: b.unconstrained_shape for b in self.program.blocks
                if b.name in self.params}

    def initial_params(self, values: Mapping[str, Any] | None = None) -> dict[str, jax.Array]:
        """Unconstrained parameters: 0 for each (0 on the real line, 1 for a positive
        parameter, the middle of an interval), or the unconstrained image of ``values``
        (constrained values by name) where given."""
        dtype = self.program.dtype
        raw = {name: jnp.zeros(shape, dtype) for name, shape in self.param_shapes().items()}
        for node, env in self._param_walk(raw, self.traced_data):
            if values and node.name in values:
                transform = biject_to(support(node, None, env))
                value = jnp.broadcast_to(jnp.asarray(values[node.name], dtype),
                                         node_shape(node))
                raw[node.name] = jnp.reshape(transform.inv(value), raw[node.name].shape)
                env[node.name] = transform(raw[node.name])  # later bounds may use it
        return raw

    def constrained_params(self, raw: Mapping[str, jax.Array], data) -> dict[str, jax.Array]:
        """The parameters on their supports (``raw``: unconstrained, by name)."""
        return {node.name: env[node.name] for node, env in self._param_walk(raw, data)}

    def _param_walk(self, raw, data):
        """``(node, env)`` for each parameter in order, ``env`` holding the data, the
        parameters so far (constrained) and the definitions computed from them alone."""
        env = self._env(data)
        of_params = set(self.params)
        for node in self._nodes:
            if node.kind == "deterministic" and set(node.parents) <= of_params | set(env):
                env[node.name] = definition_value(node, env)
                of_params.add(node.name)
            elif node.name in self.params:
                env[node.name] = biject_to(support(node, None, env))(raw[node.name])
                yield node, env

    def _env(self, data) -> dict[str, Any]:
        return dict(self.program.with_data(data).data)

    def sample(self, raw: Mapping[str, jax.Array], key: jax.Array, data,
               stop: frozenset[str] = frozenset(),
               fixed: Mapping[str, jax.Array] | None = None) -> GuideDraw:
        """One draw of the latents given the unconstrained parameters ``raw``. The latents
        in ``stop`` are drawn with stopped gradients (score function, forward KL); auxiliary
        variables in ``fixed`` take the given values (enumeration)."""
        return self._walk(raw, key, data, stop, fixed or {})

    def distributions(self, raw: Mapping[str, jax.Array]) -> dict[str, Any]:
        """The distribution of every latent and auxiliary variable at one draw with the
        parameters ``raw``, evaluated eagerly with the bound data (to choose estimators)."""
        found: dict[str, Any] = {}
        self._walk(raw, jax.random.PRNGKey(0), self.traced_data, frozenset(), {},
                   lambda node, dist: found.__setitem__(node.name, dist))
        return found

    def _walk(self, raw, key, data, stop, fixed, on_dist=None) -> GuideDraw:
        program = self.program.with_data(data)
        env = dict(program.data)
        zero = jnp.zeros((), program.dtype)
        log_q = score = aux = zero
        for node in self._nodes:
            if node.kind == "deterministic":
                env[node.name] = definition_value(node, env)
                continue
            if node.name in self.params:
                env[node.name] = biject_to(support(node, None, env))(raw[node.name])
                continue
            dist, shape = program.distribution(node, env)
            if on_dist is not None:
                on_dist(node, dist)
            spec = DISTRIBUTIONS[node.sample.dist.func]
            key, sub = jax.random.split(key)
            if node.name in fixed:
                variate = jnp.broadcast_to(jnp.asarray(fixed[node.name]), shape) \
                    - (1 if spec.one_based else 0)
            else:
                variate = sample_shaped(dist, sub, shape)
            if node.name in stop or spec.discrete:
                variate = jax.lax.stop_gradient(variate)
            term = jnp.sum(dist.log_prob(variate))
            if node.name in fixed:
                aux = aux + term
            elif node.name in stop or spec.discrete:
                score = score + term
            if node.kind == "latent":
                log_q = log_q + term
            env[node.name] = variate + 1 if spec.one_based else variate
        values = {name: env[name] for name in self.latents + self.auxiliary}
        if self.auxiliary:  # q of the model's latents sums the auxiliary variables out
            log_q = self.log_q(raw, values, data)
        return GuideDraw(values, log_q, score, aux)

    def log_q(self, raw: Mapping[str, jax.Array], values: Mapping[str, jax.Array], data
              ) -> jax.Array:
        """``log q`` of the model's latents at ``values`` (auxiliary variables summed out):
        the guide program's log density with the parameters and latents given."""
        program = self.program.with_data(data)
        given = {**self.constrained_params(raw, data),
                 **{name: values[name] for name in self.latents}}
        return program.constrained_log_density(given)


def node_shape(node: Node) -> tuple[int, ...]:
    """A node's declared (checked) shape."""
    return tuple(int(d) for d in node.type.shape)


def guide_source(guide: Any) -> Source:
    """A guide given as a path (a ``pathlib.Path``, or one line of text ending in ``.ppl``)
    or as its text."""
    from pathlib import Path

    from ppl.errors import read_text_file

    if isinstance(guide, Source):
        return guide
    if isinstance(guide, Path) or (isinstance(guide, str) and "\n" not in guide
                                   and guide.strip().endswith(".ppl")):
        path = Path(str(guide).strip())
        return Source(read_text_file(path, "the guide file", "check the path to --guide",
                                     ModelError), str(path))
    return Source(str(guide), "<guide>")


def _model_statements(model: CompiledModel, declared: set[str]) -> list[ast.Statement]:
    """The model's data declarations, definitions from data and functions, which the guide
    may use without declaring them (those it declares itself are left out)."""
    out: list[ast.Statement] = [f for f in model.graph.functions if f.name not in declared]
    for node in model.graph.nodes:
        if node.name in declared or node.symbol is None:
            continue
        if node.kind in ("data", "observed") and node.symbol.data_decl is not None \
                and node.name in model.data:
            out.append(node.symbol.data_decl)
        elif node.kind == "transformed_data" and node.symbol.define is not None:
            out.append(node.symbol.define)
    return out


def _declared(program: ast.Program) -> set[str]:
    return {st.name for st in program.statements if hasattr(st, "name")}


def compile_guide(model: CompiledModel, guide: Any) -> CompiledGuide:
    """Compile ``guide`` (a path, text or :class:`~ppl.source.Source`) against ``model``
    (bound to its data); a :class:`~ppl.ModelError` locates every mismatch (see
    :mod:`ppl.codegen.guide_check`)."""
    source = guide_source(guide)
    if model.imputed:
        raise ModelError([error(
            f"a guide cannot approximate the missing entries of {', '.join(model.imputed)} "
            "(imputed as parameters): the vi backend does not support missing data yet",
            hint="leave the incomplete rows out of the data, or fit with the 'nuts' or "
                 "'advi' backend")], model.graph.source)
    program = parse(source)
    latents = tuple(model.latent_names)
    problems = guide_check.statement_errors(program, model.graph, latents)
    if problems:
        raise ModelError(problems, source)
    full = ast.Program(tuple(_model_statements(model, _declared(program))) + program.statements)
    checked = check(full, source, guide_check.data_sizes(model.data))
    data_names = {n.name for n in model.graph.nodes if n.kind in ("data", "observed")}
    graph = lower(checked, supplied=data_names & set(model.data))
    data = {n.name: np.asarray(model.data[n.name]) for n in graph.of_kind("data")}
    compiled = compile_graph(graph, data, model.dtype)
    by_name = {n.name: n for n in graph.nodes}
    params = tuple(n.name for n in graph.of_kind("latent") if n.sample is None)
    covered = [n for n in graph.of_kind("latent") if n.sample is not None]
    auxiliary = tuple(n.name for n in graph.of_kind("discrete"))
    problems = [guide_check.unknown_latent_error(n.name, n.sample.name_span, latents)
                for n in covered if n.name not in latents]
    problems += _support_problems(model, compiled, [n for n in covered if n.name in latents])
    if problems:
        raise ModelError(sorted(problems, key=lambda d: (d.span.line, d.span.column)), source)
    missing = [name for name in latents if name not in by_name or by_name[name].sample is None]
    if missing:
        supports = _supports(model, model.graph.nodes)
        raise ModelError([guide_check.missing_latent_error(
            name, _latent_span(model, name), source.name, supports[name])
            for name in missing], model.graph.source)
    families = {n.name: n.sample.dist.func for n in covered}
    return CompiledGuide(compiled, latents, params, auxiliary, families)


def _latent_span(model: CompiledModel, name: str):
    node = model.graph[name]
    return node.sample.span if node.sample is not None else node.symbol.span


def _supports(program: CompiledModel, nodes, own: bool = False) -> dict[str, Any]:
    """Each latent's support, evaluated at the unconstrained point 0 (outside any trace):
    where the model's latent lives, or with ``own`` where the guide's distribution puts its
    mass (a declared type or bound that the distribution does not respect, such as
    ``ordered[2] ~ normal(m, s)``, would leave q unnormalised; truncation ``T[L, U]`` and
    declared bounds with a CDF make a normalised distribution, whose support is its own)."""
    env = program.posterior_env(jnp.zeros((program.dimension,), program.dtype),
                                jax.random.PRNGKey(0))
    out = {}
    for node in nodes:
        if node.kind == "latent":
            dist = program.distribution(node, env)[0] if node.sample is not None else None
            out[node.name] = dist.support if own else support(node, dist, env)
    return out


def _support_problems(model: CompiledModel, guide: CompiledModel, covered: list[Node]) -> list:
    """Shape and support mismatches between the model's latents and the guide's."""
    problems = []
    model_blocks = {b.name: b for b in model.blocks}
    for node in covered:
        if node_shape(node) != model_blocks[node.name].shape:
            problems.append(guide_check.shape_error(
                node.name, node.sample.dist.span, model_blocks[node.name].shape,
                node_shape(node)))
    if problems:
        return problems
    wanted = _supports(model, model.graph.nodes)
    given = _supports(guide, covered, own=True)
    for node in covered:
        if not guide_check.same_support(wanted[node.name], given[node.name]):
            problems.append(guide_check.support_error(
                node.name, node.sample.dist.span, node.sample.dist.func, wanted[node.name],
                given[node.name]))
    return problems


__all__ = ["CompiledGuide", "GuideDraw", "IMPLICIT_FAMILIES", "compile_guide", "guide_source",
           "node_shape", "reparameterisable"]
