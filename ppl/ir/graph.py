"""The graph IR: one node per named quantity (or log-density term), with dependency edges.

Node kinds:
- ``data``: supplied by the user.
- ``transformed_data``: a definition computable from the data alone (computed once).
- ``latent``: has a distribution (or a ``param`` declaration) and is not supplied: sampled.
- ``discrete``: a latent with a finite discrete distribution (bernoulli, categorical): summed
  out of the log-density, and drawn from its conditional posterior afterwards.
- ``observed``: has a distribution and is supplied by the data: contributes a likelihood.
- ``deterministic``: a definition that depends on latent quantities; recorded in the results.
- ``factor``: a ``target +=`` term.
- ``generated``: a ``generated`` statement, computed (or drawn) from each posterior draw after
  sampling; never part of the log-density.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppl.frontend import ast
from ppl.frontend.symbols import Symbol
from ppl.frontend.types import Type
from ppl.source import Source

KINDS = ("data", "transformed_data", "latent", "discrete", "observed", "deterministic", "factor",
         "generated")


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    type: Type
    parents: tuple[str, ...]
    symbol: Symbol | None = None  # None for factor nodes
    factor: ast.TargetIncrement | None = None

    @property
    def sample(self) -> ast.Sample | None:
        return self.symbol.sample if self.symbol else None

    @property
    def declared_bounds(self) -> ast.Bounds | None:
        """Bounds given by a declaration or annotation: they define the support when present."""
        if self.symbol is None:
            return None
        for holder in (self.symbol.param_decl, self.symbol.data_decl, self.symbol.sample):
            if holder is not None and getattr(holder, "bounds", None) is not None:
                return holder.bounds
        return None


@dataclass(frozen=True)
class Graph:
    """Nodes in dependency order (every node after its parents)."""

    nodes: tuple[Node, ...]
    source: Source
    functions: tuple[ast.FunctionDef, ...] = ()

    def __getitem__(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def of_kind(self, *kinds: str) -> list[Node]:
        return [n for n in self.nodes if n.kind in kinds]

    def parents(self) -> dict[str, tuple[str, ...]]:
        """The parent map, ``{name: (parent, ...)}``."""
        return {n.name: n.parents for n in self.nodes}
