"""Graph IR + data -> :class:`CompiledModel`: JAX functions over a flat unconstrained vector.

Here: the layout of the latents in that vector, their transforms to their supports, the walk
over the graph that the log-densities, transforms and simulations share, and binding data
(:func:`compile_graph`). Definitions are computed by :mod:`ppl.codegen.definitions`, discrete
latents summed out by :mod:`ppl.codegen.marginal`, truncated distributions made by
:mod:`ppl.codegen.truncation`.

Sign convention: everything here is a log-density (+log p). Backends that want a potential
energy (NumPyro) negate it at their edge.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import validation_enabled

from ppl.codegen import glm, marginal, missing
from ppl.codegen.definitions import definition_value
from ppl.codegen.evaluate import comprehension_range, concrete_int, evaluate, function_key, map_over
from ppl.codegen.index_check import index_problems
from ppl.codegen.layout import Block, bounds_constraint, declared_constraint, layout, support
from ppl.codegen.programs import ProgramCache, data_signature, traced_part
from ppl.codegen.simulate import (
    bounded_sample,
    constrained_type_sample,
    improper_prior_error,
    refers_to_itself,
    sample_shaped,
    sequential_draw,
    with_stand_in,
)
from ppl.codegen.stored import StoredProgram
from ppl.codegen.transforms import biject_to
from ppl.codegen.truncation import Truncated, bound_value, truncate, truncating_bounds
from ppl.errors import DataError, ModelError, error
from ppl.frontend import ast
from ppl.ir.graph import Graph, Node
from ppl.jax_settings import in_ppl_settings
from ppl.library.cdfs import log_cdfs
from ppl.library.distributions import DISTRIBUTIONS, build_distribution


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
@dataclass(frozen=True)
class CompiledModel:
    """A model bound to its data, as pure JAX functions of a flat unconstrained vector.

    - ``log_density(u)``: log prior + log likelihood + log |Jacobian| (the sampling target).
    - ``log_prior(u)`` (Jacobian included) and ``log_likelihood(u)``: the two parts, for
      tempered methods.
    - ``constrain(u)`` -> ``{latent: value}``; ``unconstrain(values)`` -> ``u``.
    - ``initial_point(key)``: uniform(-2, 2) on the unconstrained space, as Stan does.
    - ``generated(u, key)``: latent, discrete (drawn from their conditional posterior),
      deterministic and generated values: what goes into the posterior.
    - ``predictive(key, u)``: draws of the observed variables given the parameters.

    Discrete latents are summed out of the densities (see :mod:`ppl.codegen.marginal`).
    - ``prior_draw(key)``: one ancestral draw of every latent, deterministic and observed node.
    """

    graph: Graph
    data: Mapping[str, jax.Array]
    blocks: tuple[Block, ...]
    dtype: jnp.dtype = field(default=jnp.float64)
    coords: Mapping[str, list] = field(default_factory=dict)  # labels of declared dims
    # Shared by every binding of the model (see ppl.codegen.programs).
    programs: ProgramCache = field(default_factory=ProgramCache, compare=False, repr=False)

    # -- data as arguments ---------------------------------------------------------------
    @cached_property
    def traced_data(self) -> dict[str, jax.Array]:
        """The data values that compiled programs take as arguments (all but the integer
        scalars, which fix sizes and stay static)."""
        return traced_part(self.data)

    @cached_property
    def signature(self) -> tuple:
        """What the compiled programs of this binding depend on besides the model: precision,
        which nodes are observed, static sizes, the shapes of the traced data."""
        kinds = tuple((node.name, node.kind) for node in self.graph.nodes)
        return str(jnp.dtype(self.dtype)), kinds, data_signature(self.data)

    def with_data(self, traced: Mapping[str, jax.Array]) -> CompiledModel:
        """This binding with other values (or tracers) for its traced data: inside a program
        that takes the data as an argument, ``model.with_data(data).log_density(u)``."""
        return dataclasses.replace(self, data={**self.data, **traced})

    def log_density_with(self, u, data: Mapping[str, jax.Array]) -> jax.Array:
        """``log_density(u)`` with the traced data given: the target of programs that take
        the data as an argument."""
        return self.with_data(data).log_density(u)

    def program(self, key: tuple, build: Callable[[], Any]) -> Any:
        """The compiled program stored under ``key`` for this binding's signature, shared by
        every binding of the model to data of the same shapes; ``build()`` makes it once and
        it must take the traced data (:attr:`traced_data`) as an argument, never close over
        them."""
        return self.programs.get((self.signature,) + tuple(key), build)

    def stored(self, key: tuple, function: Callable, **placement: Any) -> StoredProgram:
        """``jax.jit(function, **placement)`` kept on disk (see :mod:`ppl.codegen.stored`),
        stored under ``key`` for this binding's signature like :meth:`program`: a new process
        running the same model, settings and data shapes does not trace it again. ``function``
        takes the traced data as an argument and everything else its trace depends on must
        be in ``key``."""
        identity = (hashlib.sha256(self.graph.source.text.encode()).hexdigest(),
                    self.signature) + tuple(key)
        return self.program(("stored",) + tuple(key),
                            lambda: StoredProgram(function, identity, **placement))

    @cached_property
    def log_density_program(self) -> Callable:
        """``log_density_with`` jitted once per model and data shapes: ``(u, data)``. Inside
        another program it is traced once however often it is called."""
        return in_ppl_settings(self.program(("log_density",),
                                            lambda: jax.jit(self.log_density_with)))

    @cached_property
    def jitted_log_density(self) -> Callable:
        """``log_density`` compiled once per model and data shapes (shared by initialisation
        and samplers); the data go in as an argument."""
        program = self.log_density_program
        return in_ppl_settings(lambda u: program(u, self.traced_data))

    @cached_property
    def jitted_value_and_grad(self) -> Callable:
        """``(log_density(u), its gradient)`` compiled once per model and data shapes."""
        program = self.stored(("value_and_grad",), jax.value_and_grad(self.log_density_with))
        return in_ppl_settings(lambda u: program(u, self.traced_data))

    @cached_property
    def glm_plans(self) -> dict[str, glm.GlmPlan]:
        """The observed statements whose log-likelihood is GLM-shaped with a data design
        matrix, by name: their log-density term and its gradient read the matrix once
        (:mod:`ppl.codegen.glm`), where its arguments' shapes are a GLM's."""
        plans = {node.name: glm.glm_plan(node, self.graph)
                 for node in self.graph.of_kind("observed") if node.name not in self.imputed
                 and node.name not in self.truncations}
        return {name: plan for name, plan in plans.items() if plan is not None}

    @cached_property
    def discrete_groups(self) -> tuple[marginal.DiscreteGroup, ...]:
        return marginal.discrete_groups(self.graph)

    @cached_property
    def truncations(self) -> dict[str, tuple[ast.Expr | None, ast.Expr | None]]:
        """Per node whose declared bounds truncate its distribution, the (lower, upper) bound
        expressions that do (see :func:`truncating_bounds`), found once per model."""
        symbols = {n.name: n.symbol for n in self.graph.nodes if n.symbol is not None}
        found = {n.name: truncating_bounds(n, symbols) for n in self.graph.nodes
                 if n.sample is not None}
        return {name: ends for name, ends in found.items() if ends != (None, None)}

    @property
    def dimension(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def latent_names(self) -> list[str]:
        return [b.name for b in self.blocks]

    @property
    def deterministic_names(self) -> list[str]:
        return [n.name for n in self.graph.of_kind("deterministic")]

    @cached_property
    def imputed(self) -> tuple[str, ...]:
        """The observed arrays with missing entries, imputed by ``<name>_unobserved``."""
        return tuple(missing.missing_counts(self.data))

    @property
    def posterior_names(self) -> list[str]:
        """Everything reported per posterior draw, parameters first; an observed array with
        imputed entries is reported completed."""
        return self.latent_names + [n.name for n in self.graph.of_kind(
            "discrete", "deterministic", "generated")] + list(self.imputed)

    @property
    def observed_names(self) -> list[str]:
        return [n.name for n in self.graph.of_kind("observed")]

    # -- the core walk over the graph ------------------------------------------------------
    def distribution(self, node: Node, env):
        """The NumPyro distribution of a stochastic node given its parents' values."""
        s = node.sample
        spec = DISTRIBUTIONS[s.dist.func]
        shape = tuple(int(d) for d in node.type.shape)

        def args_at(scope, variate_shape=shape):
            # Each argument is broadcast to the batch shape of one draw here, so that NumPyro
            # never right-aligns a per-element argument against a vector one (a silent bug
            # when the sizes happen to agree) and never relies on rank promotion.
            batch = variate_shape[: len(variate_shape) - spec.event_rank]
            # A GLM's batch is its matrix's rows: the matrix and its coefficients stay whole.
            return [_broadcast_arg(evaluate(a.value, scope), rank,
                                   () if spec.batch_rows and rank else batch)
                    for a, rank in zip(_ordered_args(s.dist, spec), spec.ranks(), strict=True)]

        # Invalid arguments give NaN densities, which the samplers reject and a bad start
        # explains by statement; NumPyro's eager validation would raise instead.
        with validation_enabled(False):
            if s.comprehension is not None:
                axes = len(s.comprehension.ranges)
                args = map_over(s.comprehension, env, lambda e: args_at(e, shape[axes:]))
                item_shape = tuple(len(comprehension_range(r, env))
                                   for r in s.comprehension.ranges) + shape[axes:]
            else:
                args, item_shape = args_at(env), shape
            total = self._observed_total(node, env, item_shape) if spec.total_from_value \
                else None
            dist = build_distribution(spec, args, item_shape, total)
            ends = self.truncations.get(node.name, (None, None))
            if ends == (None, None):
                return dist, item_shape
            low, high = (None if e is None else bound_value(node, e, env) for e in ends)
            return truncate(dist, lambda y: log_cdfs(spec.name, y, args), low, high,
                            spec.discrete), item_shape

    def _observed_total(self, node: Node, env, shape) -> jax.Array:
        """multinomial's N: the sum of the observed counts, which a prior simulation of
        counts left out of the data does not have (a located error)."""
        if node.name not in env:
            raise ModelError([error(
                f"'{node.name}' cannot be simulated: {node.sample.dist.func}'s number of "
                f"trials N is the sum of the observed counts, and '{node.name}' is not given",
                node.sample.span, f"supply '{node.name}' as data")], self.graph.source)
        return jnp.sum(self.variate(node, env, shape), axis=-1)

    def variate(self, node: Node, env, shape) -> jax.Array:
        """A stochastic node's value as its distribution sees it: the range of a statement
        over part of an observed array, categories counted from 0."""
        value = env[node.name]
        c = node.sample.comprehension
        if node.kind == "observed" and c is not None:
            for axis, r in enumerate(c.ranges):
                lo = concrete_int(r.lo, env)
                value = jax.lax.slice_in_dim(value, lo - 1, lo - 1 + shape[axis], axis=axis)
        return _as_variate(node, value)

    def _walk(self, u, *, on_latent=None, on_observed=None, on_factor=None, on_marginal=None,
              on_glm=None, given: Mapping[str, jax.Array] | None = None):
        """Evaluate every node in order; callbacks collect log-density terms. Terms that
        depend on a discrete latent come in summed over it, through ``on_marginal``. With
        ``given`` (constrained values by name) the latents take those values exactly, and
        ``u`` is only read for the log |Jacobian| (a round trip through the unconstrained
        space can move values such as a simplex's entry of 1e-30). With ``on_glm`` the
        GLM-shaped observed statements (:attr:`glm_plans`) report their summed term there,
        computed in one pass over their design matrix, instead of to ``on_observed``."""
        env = dict(self.data)
        deferred = marginal.deferred_terms(self.discrete_groups)
        for group in self.discrete_groups:  # a stand-in value until the draws of z exist
            env = marginal.with_value(group, self, env, group.placeholder, definitions=False)
        for node in self.graph.nodes:
            if node.kind in ("data", "transformed_data", "discrete", "generated"):
                continue
            if node.kind == "deterministic":
                env[node.name] = definition_value(node, env)
            elif node.kind == "latent":
                block = self._block(node.name)
                raw = jax.lax.dynamic_slice_in_dim(u, block.offset, block.size)
                raw = raw.reshape(block.unconstrained_shape)
                own = refers_to_itself(node)  # its support from a stand-in, its density after
                scope = with_stand_in(env, node, self.dtype) if own else env
                dist, shape = self.distribution(node, scope) if node.sample else (None, block.shape)
                transform = biject_to(support(node, dist, scope))
                value = transform(raw) if given is None else \
                    jnp.asarray(given[node.name], self.dtype)
                env[node.name] = value
                if own:
                    dist, shape = self.distribution(node, env)
                if on_latent:
                    on_latent(node, None if node.name in deferred else dist, value,
                              transform.log_abs_det_jacobian(raw, value))
            elif (term := self._glm_term(node, env, on_glm is not None
                                         and node.name not in deferred)) is not None:
                on_glm(node, term)
            elif node.kind == "observed" and (node.name in self.imputed or
                                              (node.name not in deferred and on_observed)):
                dist, shape = self.distribution(node, env)
                if node.name in self.imputed:
                    dist = self._impute(node, dist, shape, env, u, given,
                                        on_latent, node.name in deferred)
                if node.name not in deferred and on_observed:
                    on_observed(node, dist, self.variate(node, env, shape))
            elif node.kind == "factor" and node.name not in deferred and on_factor:
                on_factor(node, jnp.sum(evaluate(node.factor.expr, env)))
        if on_marginal:
            for group in self.discrete_groups:
                on_marginal(group, marginal.marginal_log_prob(group, self, env))
        return env

    def _glm_term(self, node: Node, env, wanted: bool) -> jax.Array | None:
        """``node``'s term in one pass over its design matrix, where it is GLM-shaped."""
        if not wanted or node.name not in self.glm_plans:
            return None
        shape = tuple(int(d) for d in node.type.shape)
        return glm.fused_term(self.glm_plans[node.name], env, self.variate(node, env, shape))

    def _impute(self, node: Node, dist, shape, env, u, given, on_latent, deferred: bool):
        """Complete the observed ``node`` in ``env`` with its imputed entries, report their
        density (and log |Jacobian|) to ``on_latent``; returns the distribution of the
        observed entries only."""
        name = missing.unobserved_name(node.name)
        block = self._block(name)
        raw = jax.lax.dynamic_slice_in_dim(u, block.offset, block.size)
        transform = biject_to(support(node, dist, env))
        values, completed, log_jac = missing.complete(
            transform, raw, env, node.name, shape, self.dtype,
            None if given is None else given[name])
        env[name], env[node.name] = values, completed
        where = missing.mask(env, node.name, shape)
        if on_latent:
            on_latent(node, None if deferred else dist.mask(where), completed, log_jac)
        return dist.mask(~where)

    def _block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    # -- log densities -------------------------------------------------------------------
    def log_density_parts(self, u, jacobian: bool = True,
                          given: Mapping[str, jax.Array] | None = None
                          ) -> tuple[jax.Array, jax.Array]:
        """(log prior with Jacobians, log likelihood) at ``u``. ``jacobian=False`` leaves the
        log |Jacobian| terms out: the log prior of the constrained values (for MAP estimates on
        the constrained space). ``given``: the latents' constrained values, used as they are
        (``u`` must then be their unconstrained image, for the Jacobian)."""
        prior = []
        lik = []

        def latent(node, dist, value, log_jac):
            if jacobian:
                prior.append(jnp.sum(log_jac))
            if dist is not None:
                prior.append(jnp.sum(dist.log_prob(_as_variate(node, value))))

        def observed(node, dist, value):
            lik.append(jnp.sum(dist.log_prob(value)))

        def factor(node, value):
            lik.append(value)

        def summed_out(group, value):
            (lik if group.has_likelihood else prior).append(value)

        self._walk(u, on_latent=latent, on_observed=observed, on_factor=factor,
                   on_marginal=summed_out, on_glm=factor, given=given)
        zero = jnp.zeros((), self.dtype)
        return sum(prior, zero), sum(lik, zero)

    def log_density(self, u) -> jax.Array:
        prior, lik = self.log_density_parts(u)
        return prior + lik

    def constrained_log_density(self, values: Mapping[str, jax.Array],
                                jacobian: bool = False) -> jax.Array:
        """The log density at the parameters' own values (``{name: value}`` on their supports,
        as in the results): what the model's statements say, without the log |Jacobian| of
        the transforms (Stan's ``log_prob(..., adjust_transform=False)``, up to a constant);
        with ``jacobian=True`` the density of the unconstrained vector, as samplers see it."""
        prior, lik = self.log_density_parts(self.unconstrain(values), jacobian=jacobian,
                                            given=values)
        return prior + lik

    def log_prior(self, u) -> jax.Array:
        return self.log_density_parts(u)[0]

    def log_likelihood(self, u) -> jax.Array:
        return self.log_density_parts(u)[1]

    def pointwise_log_likelihood(self, u) -> dict[str, jax.Array]:
        """Element-wise log-likelihood of each observed variable (for LOO and az.compare)."""
        out = {}

        def observed(node, dist, value):
            out[node.name] = dist.log_prob(value)

        env = self._walk(u, on_observed=observed)
        for group in self.discrete_groups:
            pointwise = marginal.pointwise_marginal(group, self, env)
            if pointwise is not None:
                out[next(t.name for t in group.terms if t.kind == "observed")] = pointwise
        return out

    def statement_terms(self, u) -> list[tuple[Node, jax.Array]]:
        """Each statement's log-density term at ``u`` (to explain a non-finite start)."""
        terms = []

        def latent(node, dist, value, log_jac):
            total = jnp.sum(log_jac)
            if dist is not None:
                total = total + jnp.sum(dist.log_prob(_as_variate(node, value)))
            terms.append((node, total))

        def observed(node, dist, value):
            terms.append((node, jnp.sum(dist.log_prob(value))))

        def factor(node, value):
            terms.append((node, value))

        def summed_out(group, value):
            terms.append((group.latent, value))

        self._walk(u, on_latent=latent, on_observed=observed, on_factor=factor,
                   on_marginal=summed_out)
        return terms

    # -- transforms ----------------------------------------------------------------------
    def constrain(self, u) -> dict[str, jax.Array]:
        env = self._walk(u)
        return {name: env[name] for name in self.latent_names}

    def posterior_env(self, u, key) -> dict[str, jax.Array]:
        """Every value at ``u``: discrete latents drawn from their conditional posterior, then
        the generated quantities (``key`` drives both)."""
        env = self._walk(u)
        for group in self.discrete_groups:
            key, sub = jax.random.split(key)
            draw = marginal.posterior_draw(group, self, env, sub)
            env = marginal.with_value(group, self, env, draw)
        for node in self.graph.of_kind("generated"):
            key, sub = jax.random.split(key)
            env[node.name] = self.simulate(node, env, sub)
        return env

    def generated(self, u, key=None) -> dict[str, jax.Array]:
        """The posterior values at ``u`` (``key``: for discrete latents and random generated
        quantities; a fixed key when omitted)."""
        env = self.posterior_env(u, jax.random.PRNGKey(0) if key is None else key)
        return {name: env[name] for name in self.posterior_names}

    def simulate(self, node: Node, env, key) -> jax.Array:
        """A generated quantity's value: its definition, or a draw from its distribution."""
        if node.symbol.define is not None:
            return definition_value(node, env)
        dist, shape = self.distribution(node, env)
        return _from_variate(node, sample_shaped(dist, key, shape))

    def unconstrain(self, values: Mapping[str, jax.Array]) -> jax.Array:
        """Inverse of :meth:`constrain`, for latent values given on their supports."""
        env = dict(self.data)
        for group in self.discrete_groups:
            env = marginal.with_value(group, self, env, group.placeholder, definitions=False)
        pieces = []
        for node in self.graph.nodes:
            if node.kind == "deterministic":
                env[node.name] = definition_value(node, env)
            elif node.kind == "latent":
                value = jnp.asarray(values[node.name], self.dtype)
                env[node.name] = value  # read by its own distribution if it refers to itself
                dist = self.distribution(node, env)[0] if node.sample else None
                pieces.append(jnp.ravel(biject_to(support(node, dist, env)).inv(value)))
            elif node.name in self.imputed:
                value = values[missing.unobserved_name(node.name)]
                constraint = support(node, self.distribution(node, env)[0], env)
                pieces.append(missing.unconstrained(constraint, value, env, node.name,
                                                    self.dtype))
                env[node.name] = env[node.name].at[missing.positions(env, node.name)].set(value)
        return jnp.concatenate(pieces) if pieces else jnp.zeros((0,), self.dtype)

    def initial_point(self, key, radius: float = 2.0) -> jax.Array:
        return jax.random.uniform(key, (self.dimension,), self.dtype, -radius, radius)

    # -- simulation ----------------------------------------------------------------------
    def predictive(self, key, u) -> dict[str, jax.Array]:
        """One draw of every observed variable from its distribution at parameters ``u``. A
        statement over part of an array (``y[t] ~ ... for t in 2:T``) conditions on the other
        elements: they keep their observed values, so replicates line up with the data."""
        draws = {}
        key, sub = jax.random.split(key)
        env = self.posterior_env(u, sub)
        for node in self.graph.of_kind("observed"):
            key, sub = jax.random.split(key)
            dist, shape = self.distribution(node, env)
            draw = _from_variate(node, sample_shaped(dist, sub, shape))
            observed = jnp.asarray(env[node.name])
            if node.sample.comprehension is not None and draw.shape != observed.shape:
                starts = [concrete_int(r.lo, env) - 1 for r in node.sample.comprehension.ranges]
                where = tuple(slice(a, a + n) for a, n in zip(starts, shape))
                draw = observed.astype(draw.dtype).at[where].set(draw)
            draws[node.name] = draw
        return draws

    def prior_draw(self, key) -> dict[str, jax.Array]:
        """One ancestral draw from the prior of every latent, deterministic and observed node."""
        env = dict(self.data)
        out = {}
        chains = {g.latent.name: g for g in self.discrete_groups if g.chain}
        for node in self.graph.nodes:
            if node.kind == "deterministic":
                env[node.name] = definition_value(node, env)
                out[node.name] = env[node.name]
            elif node.kind == "generated":
                key, sub = jax.random.split(key)
                env[node.name] = out[node.name] = self.simulate(node, env, sub)
            elif node.name in chains:
                key, sub = jax.random.split(key)
                group = chains[node.name]
                draw = marginal.prior_chain_draw(group, self, env, sub)
                env[node.name] = out[node.name] = draw
            elif node.kind in ("latent", "observed", "discrete"):
                if node.sample is None or not DISTRIBUTIONS[node.sample.dist.func].proper:
                    raise improper_prior_error(node, self.graph)
                key, sub = jax.random.split(key)
                value = sequential_draw(partial(self._prior_value, node, key=sub), node, env,
                                        self.dtype) if refers_to_itself(node) \
                    else self._prior_value(node, env, sub)
                env[node.name] = value
                out[node.name] = value
                if node.name in self.imputed:  # the prior of the imputed entries
                    out[missing.unobserved_name(node.name)] = \
                        value[missing.positions(env, node.name)]
        return out

    def _prior_value(self, node: Node, env, key) -> jax.Array:
        """A prior draw of a stochastic node given ``env``, within its declared bounds or
        constrained type."""
        dist, shape = self.distribution(node, env)
        if node.declared_bounds is not None and node.kind == "latent" \
                and not isinstance(dist, Truncated):
            return bounded_sample(dist, key, shape, bounds_constraint(node.declared_bounds, env))
        if declared_constraint(node) is not None and node.kind == "latent":
            exchangeable = all(jnp.ndim(evaluate(a.value, env)) == 0
                               for a in node.sample.dist.args)
            return constrained_type_sample(dist, key, shape, declared_constraint(node),
                                           exchangeable)
        return _from_variate(node, sample_shaped(dist, key, shape))


def _broadcast_arg(value, rank: int, batch: tuple[int, ...]):
    """``value`` (whose last ``rank`` axes are one draw's parameter) broadcast to ``batch``."""
    value = jnp.asarray(value)
    return jnp.broadcast_to(value, tuple(batch) + jnp.shape(value)[jnp.ndim(value) - rank:])


def _ordered_args(call, spec):
    by_name = {a.name: a for a in call.args if a.name}
    positional = [a for a in call.args if a.name is None]
    return [positional[i] if i < len(positional) else by_name[p] for i, p in enumerate(spec.params)]


def _spec(node: Node):
    return DISTRIBUTIONS[node.sample.dist.func]


def _as_variate(node: Node, value):
    """Language values -> NumPyro values (categories 1..K become 0..K-1; int data observed
    through a continuous family becomes real, since densities such as beta's and weibull's
    take the log of the value, which JAX refuses for an integer array)."""
    if not node.sample:
        return value
    spec = _spec(node)
    if spec.one_based:
        return value - 1
    if not spec.discrete and not jnp.issubdtype(jnp.result_type(value), jnp.floating):
        return jnp.asarray(value, jnp.result_type(value, 1.0))
    return value


def _from_variate(node: Node, value):
    return value + 1 if node.sample and _spec(node).one_based else value


@in_ppl_settings
def compile_graph(graph: Graph, data: Mapping[str, np.ndarray], dtype=jnp.float64,
                  coords: Mapping[str, list] | None = None,
                  programs: ProgramCache | None = None) -> CompiledModel:
    """Bind data to the graph: convert it, compute the transformed data once, lay out latents.
    ``programs`` holds the model's compiled programs, reused for data of the same shapes."""
    shapes = {node.name: tuple(int(d) for d in node.type.shape) for node in graph.nodes
              if node.symbol is not None}
    problems = index_problems(graph, data, shapes)
    if problems:
        raise DataError(problems, graph.source)
    env: dict[str, jax.Array] = {function_key(f.name): f for f in graph.functions}
    for name, value in data.items():
        arr = np.asarray(value)
        env[name] = jnp.asarray(arr, dtype if arr.dtype.kind == "f" else arr.dtype)
    for node in graph.of_kind("transformed_data", "observed"):
        if node.symbol.define is not None:  # observed definitions are computed here too
            env[node.name] = jnp.asarray(definition_value(node, env))
    return CompiledModel(graph, env, layout(graph, missing.missing_counts(data)), dtype,
                         dict(coords or {}),
                         programs if programs is not None else ProgramCache())
