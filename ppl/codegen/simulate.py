"""Draws of a given shape from a NumPyro distribution, also restricted to a declared
constrained type or bounds: the pieces of prior simulation (:meth:`CompiledModel.prior_draw`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from ppl.errors import SamplingError, error
from ppl.frontend.ast import self_references
from ppl.ir.graph import Graph, Node


def sample_shaped(dist, key, shape):
    batch_and_event = tuple(dist.batch_shape) + tuple(dist.event_shape)
    if batch_and_event != tuple(shape):
        extra = tuple(shape)[: len(shape) - len(dist.event_shape)]
        dist = dist.expand(extra)
    return dist.sample(key)


REJECTION_TRIES = 256


def constrained_type_sample(dist, key, shape, constraint, exchangeable: bool):
    """A draw from ``dist`` restricted to a constrained type (``ordered[K] ~ normal(0, 1)``).
    Sorting i.i.d. elements gives the restriction exactly; otherwise the first of
    ``REJECTION_TRIES`` draws inside the set, or NaN (a prior with no mass there, such as a
    simplex with a normal prior, cannot be simulated)."""
    ordered = constraint in (constraints.ordered_vector, constraints.positive_ordered_vector)
    if ordered and exchangeable:
        return jnp.sort(sample_shaped(dist, key, shape), axis=-1)
    keys = jax.random.split(key, REJECTION_TRIES)
    tries = jax.vmap(lambda k: sample_shaped(dist, k, shape))(keys)
    inside = jax.vmap(constraint)(tries)
    inside = inside.reshape(REJECTION_TRIES, -1).all(axis=1) if inside.ndim > 1 else inside
    first = jnp.argmax(inside)
    return jnp.where(inside[first], tries[first], jnp.nan)


def bounded_sample(dist, key, shape, constraint):
    """A draw from ``dist`` whose declared bounds are its support (or that has no CDF to
    truncate it by: a discrete or multivariate one): values outside the bounds are NaN, which
    a prior with no mass outside them never gives."""
    value = sample_shaped(dist, key, shape)
    return jnp.where(constraint(value), value, jnp.nan)


def improper_prior_error(node: Node, graph: Graph) -> SamplingError:
    """The error for simulating from the prior a quantity whose prior is flat."""
    span = node.symbol.sample.span if node.sample else node.symbol.span
    return SamplingError([error(
        f"'{node.name}' has an improper (flat) prior, so it cannot be simulated from the prior",
        span, f"give '{node.name}' a proper prior distribution to draw prior predictive samples")],
        graph.source)


def refers_to_itself(node: Node) -> bool:
    """A latent whose distribution uses its own earlier elements (``x[t] ~ normal(x[t - 1],
    s)``), or such data left out to be simulated: its density reads its own value, and its
    prior draw is sequential."""
    return node.kind == "latent" and node.sample is not None and any(
        self_references(a.value, node.name) for a in node.sample.dist.args)


def with_stand_in(env, node: Node, dtype):
    """``env`` with zeros for ``node``: enough to find the support of a latent that refers to
    itself (the checker allows only families whose support does not move with the arguments,
    and truncation ends that do not use it)."""
    return {**env, node.name: jnp.zeros(tuple(node.type.shape), dtype)}


def sequential_draw(draw, node: Node, env, dtype):
    """A prior draw of a latent whose elements depend on its earlier elements, with ``draw``
    (scope -> a draw with a fixed key, element-wise in its arguments): repeating the draw with
    the previous result in scope fixes one more element each time (element t is exact once
    the elements before it are), so as many repeats as elements give the ancestral draw."""
    first = draw(with_stand_in(env, node, dtype))
    return jax.lax.fori_loop(1, first.shape[0], lambda _, x: draw({**env, node.name: x}),
                             first)
