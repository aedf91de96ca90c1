"""Checked model -> graph IR. Observed versus latent is decided by what the data supplies."""

from __future__ import annotations

from collections.abc import Collection

from ppl.errors import DataError, error
from ppl.frontend.symbols import CheckedModel, is_discrete_latent
from ppl.frontend.types import REAL
from ppl.ir.graph import Graph, Node


def _kind(symbol, supplied: Collection[str] | None) -> str:
    if symbol.kind in ("data", "generated"):
        return symbol.kind
    if symbol.kind == "defined":
        return "transformed_data" if symbol.data_only else "deterministic"
    if symbol.kind == "observable":
        is_supplied = (supplied is None or symbol.name in supplied
                       or symbol.define is not None)  # an observed definition of the data
        return "observed" if is_supplied else "latent"
    return "discrete" if is_discrete_latent(symbol.sample) else "latent"


def _check_supplied_before_use(checked: CheckedModel, symbol, kinds, supplied) -> None:
    """A quantity computed from observed data whose distribution depends on that quantity
    (a GARCH scale from lagged y, say) needs the data: it cannot be simulated in order."""
    for parent in symbol.depends:
        later = checked.symbols[parent]
        if parent not in kinds and later.kind == "observable" and _kind(later, supplied) != \
                "observed":
            raise DataError([error(
                f"data '{parent}' is missing, but '{symbol.name}' is computed from it and "
                f"'{parent}' depends on '{symbol.name}'", checked.symbols[parent].span,
                f"supply '{parent}' in the data")], checked.source)


def lower(checked: CheckedModel, supplied: Collection[str] | None = None) -> Graph:
    """Build the graph; ``supplied`` are the data names given (None: every declared name)."""
    nodes = []
    kinds: dict[str, str] = {}
    for symbol in checked.symbols.values():
        kind = _kind(symbol, supplied)
        if kind == "deterministic" and all(kinds.get(p) in ("data", "transformed_data")
                                           for p in symbol.depends):
            kind = "transformed_data"
        if kind == "transformed_data" and any(kinds.get(p) not in ("data", "transformed_data")
                                              for p in symbol.depends):
            kind = "deterministic"
        kinds[symbol.name] = kind
        _check_supplied_before_use(checked, symbol, kinds, supplied)
        nodes.append(Node(symbol.name, kind, symbol.type, tuple(sorted(symbol.depends)), symbol))
    for i, (factor, deps) in enumerate(checked.factors):
        nodes.append(Node(f"target[{i + 1}]", "factor", REAL, tuple(sorted(deps)), None, factor))
    return Graph(tuple(nodes), checked.source, checked.functions)
