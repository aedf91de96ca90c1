"""Discrete latents summed out of the log-density, and drawn back after sampling.

A discrete latent ``z`` (bernoulli or categorical, K values) is not a coordinate of the sampled
vector. Its *group* is ``z``, the definitions computed from it and the *terms*: the statements
(and ``target +=`` factors) whose density depends on them. The checker guarantees that element
n of ``z`` reaches only element n of each term, so with every element of ``z`` set to the same
value k, one vectorised evaluation gives, for all n at once, ``log p(z[n] = k) + log p(terms[n]
| z[n] = k)``; a log-sum-exp over the K values sums ``z`` out exactly.

A Markov chain (``z[t] ~ categorical(Theta[z[t - 1]]) for t in 1:T``) is summed out by the
forward algorithm, linear in T: the same evaluation with every element set to j gives the
transition log-probabilities ``log p(z[t] = k | z[t - 1] = j)`` for all t at once.

After sampling, ``z`` is drawn from its conditional posterior given each draw of the continuous
parameters (independently per element; forward filtering, backward sampling for a chain), so
the results hold draws of ``z`` from the joint posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from ppl.codegen.definitions import definition_value
from ppl.codegen.evaluate import Constant, evaluate
from ppl.frontend.ast import self_references
from ppl.ir.graph import Graph, Node
from ppl.library.distributions import DISTRIBUTIONS


class NodeDistributions(Protocol):
    """What summing out needs from the model: :class:`ppl.codegen.model.CompiledModel`
    provides it and passes itself in, so this module does not import the compiled model."""

    dtype: Any

    def distribution(self, node: Node, env) -> tuple[Any, tuple[int, ...]]:
        """The NumPyro distribution of a stochastic node given its parents' values in ``env``,
        and the shape of its variate."""
        ...

    def variate(self, node: Node, env, shape) -> jax.Array:
        """The node's value in ``env`` as its distribution sees it."""
        ...


@dataclass(frozen=True)
class DiscreteGroup:
    """A discrete latent with what depends on it (see the module docstring)."""

    latent: Node
    definitions: tuple[Node, ...]
    terms: tuple[Node, ...]
    chain: bool

    @property
    def elementwise(self) -> bool:
        """Summed out element by element (an array), rather than as one scalar."""
        return len(self.latent.type.shape) == 1

    @property
    def has_likelihood(self) -> bool:
        return any(t.kind == "observed" for t in self.terms)

    @property
    def placeholder(self) -> int:
        """A value in the support, for evaluating the model before ``z`` is known."""
        return 1 if DISTRIBUTIONS[self.latent.sample.dist.func].one_based else 0


def discrete_groups(graph: Graph) -> tuple[DiscreteGroup, ...]:
    groups = []
    for z in graph.of_kind("discrete"):
        reach = {z.name}
        definitions, terms = [], []
        for node in graph.nodes:
            if node.name == z.name or not reach & set(node.parents):
                continue
            if node.kind == "deterministic":
                reach.add(node.name)
                definitions.append(node)
            elif node.kind in ("latent", "observed", "factor"):
                terms.append(node)
        chain = any(self_references(a.value, z.name) for a in z.sample.dist.args)
        groups.append(DiscreteGroup(z, tuple(definitions), tuple(terms), chain))
    return tuple(groups)


def deferred_terms(groups: tuple[DiscreteGroup, ...]) -> frozenset[str]:
    """Statements whose density enters only through a group's marginal."""
    return frozenset(t.name for g in groups for t in g.terms)


# ----------------------------------------------------------------------------- evaluation


def with_value(group: DiscreteGroup, model: NodeDistributions, env, value,
               definitions: bool = True):
    """``env`` with ``z`` set to ``value`` (one value for every element, or an array) and,
    if ``definitions``, the definitions computed from it re-evaluated."""
    shape = tuple(int(d) for d in group.latent.type.shape)
    scope = dict(env)
    # The default integer type (int64 in double precision): NumPyro computes the binomial of
    # an int32 count in single precision (its lgamma of int32 is float32).
    value = jnp.asarray(value, int)
    scope[group.latent.name] = Constant(value, shape) if shape and value.ndim == 0 else \
        jnp.broadcast_to(value, shape)
    for node in group.definitions if definitions else ():
        scope[node.name] = definition_value(node, scope)
    return scope


def _support(group: DiscreteGroup, model: NodeDistributions, env) -> jax.Array:
    """The values of ``z``, in the language's numbering (categories 1..K)."""
    stand_in = with_value(group, model, env, group.placeholder, definitions=False)
    dist, _ = model.distribution(group.latent, stand_in)
    values = jnp.ravel(dist.enumerate_support(expand=False)).astype(jnp.int32)
    return values + group.placeholder


def _own_log_prob(group: DiscreteGroup, model: NodeDistributions, scope, k) -> jax.Array:
    """``log p(z[n] = k | ...)`` for every n, given the parents' values in ``scope``."""
    dist, shape = model.distribution(group.latent, scope)
    return dist.log_prob(jnp.full(shape, k - group.placeholder, jnp.int32))


def _terms_log_prob(group: DiscreteGroup, model: NodeDistributions, scope) -> jax.Array:
    """The terms' log-densities given ``z`` in ``scope``: per element of ``z`` (summing each
    term's trailing axes), or one scalar for a scalar ``z``."""
    shape = tuple(int(d) for d in group.latent.type.shape)
    total = jnp.zeros(shape, model.dtype)
    for node in group.terms:
        if node.kind == "factor":
            lp = jnp.sum(evaluate(node.factor.expr, scope))
        else:
            dist, item_shape = model.distribution(node, scope)
            lp = dist.log_prob(model.variate(node, scope, item_shape))
        axes = tuple(range(len(shape), jnp.ndim(lp)))
        total = total + jnp.sum(lp, axis=axes)
    return total


def _joint_logits(group: DiscreteGroup, model: NodeDistributions, env):
    """``(values, logits)``: logits[k, n] = log p(z[n] = values[k], terms[n] | rest)."""
    values = _support(group, model, env)

    def at(k):
        scope = with_value(group, model, env, k)
        return _own_log_prob(group, model, scope, k) + _terms_log_prob(group, model, scope)

    return values, jax.vmap(at)(values)


def _transitions(group: DiscreteGroup, model: NodeDistributions, env):
    """``(values, initial, transition)`` of a chain: initial[k] = log p(z[1] = k) and
    transition[t, j, k] = log p(z[t] = k | z[t - 1] = j)."""
    values = _support(group, model, env)

    def from_state(j):
        scope = with_value(group, model, env, j, definitions=False)
        return jax.vmap(lambda k: _own_log_prob(group, model, scope, k))(values)  # (K, T)

    by_previous = jax.vmap(from_state)(values)  # (J, K, T)
    transition = jnp.moveaxis(by_previous, -1, 0)  # (T, J, K)
    # The first state's distribution cannot depend on a previous one: take it from j = 1.
    return values, transition[0, 0], transition


def _chain_pieces(group: DiscreteGroup, model: NodeDistributions, env):
    """``_transitions`` and emission[t, k] = log p(terms[t] | z[t] = k)."""
    values, initial, transition = _transitions(group, model, env)
    emission = jax.vmap(
        lambda k: _terms_log_prob(group, model, with_value(group, model, env, k)))(values)
    return values, initial, transition, emission.T


def _forward(initial, transition, emission):
    """Forward algorithm: alpha[t, k] = log p(z[t] = k, terms[1..t])."""

    def step(alpha, pieces):
        trans, emit = pieces
        alpha = logsumexp(alpha[:, None] + trans, axis=0) + emit
        return alpha, alpha

    first = initial + emission[0]
    _, rest = jax.lax.scan(step, first, (transition[1:], emission[1:]))
    return jnp.concatenate([first[None], rest])


def marginal_log_prob(group: DiscreteGroup, model: NodeDistributions, env) -> jax.Array:
    """``log sum_z p(z, terms | rest)``: the group's whole contribution to the log-density."""
    if group.latent.type.shape and int(group.latent.type.shape[0]) == 0:
        return jnp.zeros((), model.dtype)
    if group.chain:
        _, initial, transition, emission = _chain_pieces(group, model, env)
        return logsumexp(_forward(initial, transition, emission)[-1])
    return jnp.sum(logsumexp(_joint_logits(group, model, env)[1], axis=0))


def pointwise_marginal(group: DiscreteGroup, model: NodeDistributions, env) -> jax.Array | None:
    """Per-element marginal log-likelihood (for LOO), when the group factorises per element
    and has a single observed term; None otherwise (a chain couples its elements)."""
    observed = [t for t in group.terms if t.kind == "observed"]
    if group.chain or not group.elementwise or len(observed) != 1 or len(group.terms) != 1:
        return None
    return logsumexp(_joint_logits(group, model, env)[1], axis=0)


# ----------------------------------------------------------------------------- draws


def posterior_draw(group: DiscreteGroup, model: NodeDistributions, env, key) -> jax.Array:
    """A draw of ``z`` from its conditional posterior given everything else in ``env``."""
    shape = tuple(int(d) for d in group.latent.type.shape)
    if shape and shape[0] == 0:
        return jnp.zeros(shape, jnp.int32)
    if not group.chain:
        values, logits = _joint_logits(group, model, env)
        return values[jax.random.categorical(key, logits, axis=0)]
    values, initial, transition, emission = _chain_pieces(group, model, env)
    alpha = _forward(initial, transition, emission)
    keys = jax.random.split(key, shape[0])
    last = jax.random.categorical(keys[-1], alpha[-1])

    def step(following, pieces):  # backward sampling: z[t] | z[t + 1], terms[1..t]
        alpha_t, trans_next, k = pieces
        state = jax.random.categorical(k, alpha_t + trans_next[:, following])
        return state, state

    _, earlier = jax.lax.scan(step, last, (alpha[:-1], transition[1:], keys[:-1]), reverse=True)
    return values[jnp.concatenate([earlier, last[None]])]


def prior_chain_draw(group: DiscreteGroup, model: NodeDistributions, env, key) -> jax.Array:
    """A draw of a chain from its prior, state by state."""
    values, initial, transition = _transitions(group, model, env)
    keys = jax.random.split(key, transition.shape[0])
    first = jax.random.categorical(keys[0], initial)

    def step(previous, pieces):
        trans, k = pieces
        state = jax.random.categorical(k, trans[previous])
        return state, state

    _, rest = jax.lax.scan(step, first, (transition[1:], keys[1:]))
    return values[jnp.concatenate([first[None], rest])]
