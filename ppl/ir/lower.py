"""Checked model -> graph IR. Observed versus latent is decided by what the data supplies."""

from __future__ import annotations

from collections.abc import Collection

from ppl.errors import DataError, error
from ppl.frontend import ast
from ppl.frontend.symbols import CheckedModel, is_discrete_latent
from ppl.frontend.types import REAL
from ppl.ir.graph import Graph, Node
from ppl.library.distributions import DISTRIBUTIONS


def _kind(symbol, supplied: Collection[str] | None) -> str:
    if symbol.kind in ("data", "generated"):
        return symbol.kind
    if symbol.kind == "defined":
        return "transformed_data" if symbol.data_only else "deterministic"
    if symbol.kind == "observable" and symbol.define is not None:
        # An observed definition of the data; one of parameters is computed like any
        # definition, and its distribution becomes a term of the target (see _density_term).
        return "observed" if symbol.data_only else "deterministic"
    if symbol.kind == "observable":
        is_supplied = supplied is None or symbol.name in supplied
        return "observed" if is_supplied else "latent"
    return "discrete" if is_discrete_latent(symbol.sample) else "latent"


def _check_supplied_before_use(checked: CheckedModel, symbol, kinds, supplied) -> None:
    """A quantity computed from observed data whose distribution depends on that quantity
    (a GARCH scale from lagged y, say) needs the data: it cannot be simulated in order."""
    joint = {d.name for d in symbol.joint}  # computed together with symbol
    for parent in symbol.depends - joint:
        later = checked.symbols[parent]
        if parent not in kinds and later.kind == "observable" and _kind(later, supplied) != \
                "observed":
            raise DataError([error(
                f"data '{parent}' is missing, but '{symbol.name}' is computed from it and "
                f"'{parent}' depends on '{symbol.name}'", checked.symbols[parent].span,
                f"supply '{parent}' in the data")], checked.source)


def _check_simulable(symbol, kind: str, source) -> None:
    """Data left out is simulated from its statement, which must then give every element a
    distribution: one over ``y[2:T]`` only (conditioning on the observed ``y[1]``) has nothing
    to draw ``y[1]`` from."""
    c = symbol.sample.comprehension if symbol.sample is not None else None
    if symbol.kind != "observable" or kind != "latent" or c is None:
        return
    starts = [r.lo for r in c.ranges]
    if all(isinstance(lo, ast.Number) and lo.value == 1 for lo in starts):
        return
    raise DataError([error(
        f"data '{symbol.name}' is left out, so it would be simulated, but its statement gives "
        "a distribution only to the elements from its range's start on", symbol.sample.span,
        f"supply '{symbol.name}' in the data, or give its first elements a distribution too "
        f"({symbol.name}[1] ~ ...)")], source)


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
        _check_simulable(symbol, kind, checked.source)
        nodes.append(Node(symbol.name, kind, symbol.type, tuple(sorted(symbol.depends)), symbol))
        if kind == "deterministic" and symbol.sample is not None:
            deps = tuple(sorted({symbol.name, *_names(symbol.sample)}))
            nodes.append(Node(f"{symbol.name} ~", "factor", REAL, deps, None,
                              _density_term(symbol.sample)))
    for i, (factor, deps) in enumerate(checked.factors):
        nodes.append(Node(f"target[{i + 1}]", "factor", REAL, tuple(sorted(deps)), None, factor))
    return Graph(tuple(nodes), checked.source, checked.functions)


def _names(sample: ast.Sample) -> set[str]:
    bound = frozenset(sample.comprehension.variables) if sample.comprehension else frozenset()
    return {n.id for n in ast.free_names(sample.dist, bound)}


def _density_term(sample: ast.Sample) -> ast.TargetIncrement:
    """``x ~ dist(args)`` on a quantity computed from parameters, as the term Stan adds:
    ``target += dist_lpdf(x, args)`` (element ``x[i]`` over the statement's range)."""
    spec = DISTRIBUTIONS[sample.dist.func]
    positional = [a for a in sample.dist.args if a.name is None]
    by_name = {a.name: a for a in sample.dist.args if a.name is not None}
    args = [positional[i] if i < len(positional) else by_name[p]
            for i, p in enumerate(spec.params)]
    value: ast.Expr = ast.Name(sample.name, sample.name_span)
    c = sample.comprehension
    if c is not None:
        value = ast.Index(value, tuple(ast.Name(r.var, r.span) for r in c.ranges),
                          sample.name_span)
    call = ast.Call(f"{spec.name}_lpdf",
                    (ast.Argument(value, None, sample.name_span),
                     *(ast.Argument(a.value, None, a.span) for a in args)),
                    sample.span, sample.dist.func_span)
    expr = call if c is None else ast.ArrayComprehension(call, c, sample.span)
    return ast.TargetIncrement(expr, sample.span)
