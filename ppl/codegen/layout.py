"""Where each parameter lives: its block of the flat unconstrained vector, and its support
(declared type or bounds, else its prior's), which the transform to it maps onto."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from numpyro.distributions import constraints

from ppl.codegen import missing
from ppl.codegen.evaluate import evaluate
from ppl.codegen.transforms import biject_to
from ppl.codegen.truncation import Truncated
from ppl.frontend.types import CONSTRAINED_TYPES
from ppl.ir.graph import Graph, Node
from ppl.library.distributions import DISTRIBUTIONS


@dataclass(frozen=True)
class Block:
    """Where one latent variable lives in the flat unconstrained vector."""

    name: str
    shape: tuple[int, ...]
    unconstrained_shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.unconstrained_shape)


def declared_constraint(node: Node):
    """The constraint of a declared constrained type (``simplex[K]``, ``ordered[K]``, ...)."""
    if node.symbol is None:
        return None
    for holder in (node.symbol.param_decl, node.symbol.sample):
        spec = getattr(holder, "type", None) if holder is not None else None
        if spec is not None and spec.kind in CONSTRAINED_TYPES:
            return getattr(constraints, CONSTRAINED_TYPES[spec.kind][1])
    return None


def _layout_constraint(node: Node):
    """A constraint of the right kind for computing the unconstrained shape."""
    if declared_constraint(node) is not None:
        return declared_constraint(node)
    if node.declared_bounds is not None or node.sample is None:
        return constraints.real
    support = DISTRIBUTIONS[node.sample.dist.func].support
    return {"simplex": constraints.simplex,
            "corr_cholesky": constraints.corr_cholesky,
            "corr_matrix": constraints.corr_matrix,
            "positive_definite": constraints.positive_definite}.get(support, constraints.real)


def layout(graph: Graph, missing_counts: Mapping[str, int] | None = None
           ) -> tuple[Block, ...]:
    """The latents' blocks in the flat unconstrained vector, one after another in graph order;
    an observed node with missing entries (``missing_counts``) has a block of its imputed
    values (see :mod:`ppl.codegen.missing`) in its place."""
    blocks, offset = [], 0
    counts = missing_counts or {}
    for node in graph.nodes:
        if node.kind == "observed" and node.name in counts:
            count = counts[node.name]
            blocks.append(Block(missing.unobserved_name(node.name), (count,), (count,), offset))
        elif node.kind == "latent":
            shape = tuple(int(d) for d in node.type.shape)
            ushape = tuple(biject_to(_layout_constraint(node)).inverse_shape(shape))
            blocks.append(Block(node.name, shape, ushape, offset))
        else:
            continue
        offset += blocks[-1].size
    return tuple(blocks)


def bounds_constraint(bounds, env):
    lo = None if bounds.lower is None else evaluate(bounds.lower, env)
    hi = None if bounds.upper is None else evaluate(bounds.upper, env)
    if lo is not None and hi is not None:
        return constraints.interval(lo, hi)
    if lo is not None:
        return constraints.greater_than(lo)
    return constraints.less_than(hi)


def support(node: Node, dist, env):
    """Where a latent lives: its declared type or bounds if any, else its prior's support."""
    if declared_constraint(node) is not None:
        return declared_constraint(node)
    if isinstance(dist, Truncated) and node.sample.truncation is not None:
        return dist.support  # T[L, U] (declared bounds next to it say the same)
    if node.declared_bounds is not None:
        return bounds_constraint(node.declared_bounds, env)
    return dist.support if dist is not None else constraints.real
