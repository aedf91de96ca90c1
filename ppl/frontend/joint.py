"""The names pass, joint recursions: definitions over the same range that use each other's
elements, such as an ARMA model's

    nu[t] = mu + phi * y[t - 1] + theta * err[t - 1] for t in 1:T
    err[t] = y[t] - nu[t] for t in 1:T

Each refers to the other only through elements at a constant lag, ``err[t - k]`` with k >= 0,
and the references at lag 0 (element t of another member, computed earlier in the same step)
have no cycle. Such a group is not a dependency cycle: it compiles to one scan over the range
that computes every member's element t in turn (:mod:`ppl.codegen.definitions`).
"""

from __future__ import annotations

from ppl.frontend import ast
from ppl.frontend.pretty import expr as text


def element_lag(use, var: str) -> int | None:
    """k for a use ``x[var - k]`` (k >= 1) or ``x[var]`` (k = 0), else None."""
    if isinstance(use, ast.Index) and len(use.indices) == 1 \
            and isinstance(use.indices[0], ast.Name) and use.indices[0].id == var:
        return 0
    return ast.recursion_lag(use, var)


def _ranged(entry: dict) -> ast.Define | None:
    d = entry.get("define")
    if isinstance(d, ast.Define) and d.comprehension is not None \
            and d.comprehension.inner is None:
        return d
    return None


def lags(d: ast.Define, other: str) -> set[int] | None:
    """The lags at which ``d`` uses elements of ``other``; None when some use is not an
    element at a constant lag (``other`` whole, or ``other[t + 1]``)."""
    found = set()
    for use in ast.self_references(d.expr, other):
        k = element_lag(use, d.comprehension.var)
        if k is None:
            return None
        found.add(k)
    return found


def joint_groups(entries: dict, deps: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The groups of two or more ranged definitions that depend on each other only through
    elements at constant lags, over the same range, with no cycle at lag 0; each in an order
    in which element t of a member needs only element t of the members before it."""
    ranged = {n: d for n, e in entries.items() if (d := _ranged(e)) is not None}
    groups = []
    for component in _cycles(ranged, deps):
        defs = [ranged[n] for n in component]
        if len({(text(d.comprehension.lo), text(d.comprehension.hi)) for d in defs}) != 1:
            continue
        same_step: dict[str, set[str]] = {}
        ok = True
        for n in component:
            same_step[n] = set()
            for other in component:
                if other == n:
                    continue
                found = lags(ranged[n], other)
                if found is None:
                    ok = False
                elif 0 in found:
                    same_step[n].add(other)
        order = _acyclic_order(component, same_step) if ok else None
        if order is not None and not _outside_needs_a_member(component, deps):
            groups.append(order)
    return groups


def _outside_needs_a_member(members: list[str], deps: dict[str, set[str]]) -> bool:
    """Whether a quantity the group needs from outside itself needs a member in turn: then
    no single place in the order can compute the whole group."""
    inside = set(members)
    todo = [d for m in members for d in deps.get(m, ()) if d not in inside]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for d in deps.get(name, ()):
            if d in inside:
                return True
            todo.append(d)
    return False


def _cycles(ranged: dict[str, ast.Define], deps: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more ranged definitions (Tarjan's
    algorithm on the dependencies between them)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(deps.get(v, ())):
            if w not in ranged or w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(ranged):  # a group is a handful of definitions: recursion depth is small
        if v not in index:
            visit(v)
    return found


def _acyclic_order(members: list[str], before: dict[str, set[str]]) -> tuple[str, ...] | None:
    """``members`` ordered so that each comes after those in ``before[it]``; None on a cycle."""
    done: list[str] = []
    remaining = list(members)
    while remaining:
        ready = [m for m in remaining if before[m] <= set(done)]
        if not ready:
            return None
        done.append(ready[0])
        remaining.remove(ready[0])
    return tuple(done)
