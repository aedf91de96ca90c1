"""Statements given in pieces: ``x[1] = a`` with ``x[t] = f(x[t - 1]) for t in 2:T`` (and
``y[1] ~ normal(m, 5)`` with ``y[t] ~ normal(y[t - 1], 1) for t in 2:T``).

The names pass gathers the pieces of one name and merges them here into one definition over
``1:end`` whose body picks the piece by the index, ``x[t] = if t <= 1 then a else f(x[t - 1])
for t in 1:T``, so the rest of the compiler sees a single definition by a range: a map when it
does not refer to itself, a scan when it does (the scan splits at the pieces' boundaries, so
choosing the piece costs nothing per step). The pieces are kept on the merged definition; the
types pass checks that they cover ``1:end`` exactly once (:func:`coverage_errors`), as far as
the sizes known allow. Pieces of a ``~`` statement become one statement of their common
distribution whose arguments pick the piece the same way; they start at the first piece's
start (observed data may be modelled in part).

In an element piece ``x[c] = ...``, an earlier element ``x[k]`` (a constant k < c) is rewritten
to ``x[t - (c - k)]``, a lag like any other, so ``x[2] = 2 * x[1]`` is a recursion too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ppl.errors import Diagnostic, error
from ppl.frontend import ast
from ppl.source import NO_SPAN

# The index variable of a merged definition when no piece names one (only element pieces).
_INDEX = "i"


def element_errors(st) -> list[Diagnostic]:
    """What is wrong with an element statement ``x[c] = ...`` / ``x[c] ~ ...``: its index
    must be a whole number >= 1, and it takes no range."""
    element = getattr(st, "element", None)
    if element is None:
        return []
    if not isinstance(element, int) or element < 1:
        return [error(f"the element index {element} must be a whole number of at least 1",
                      st.element_span, "indices are 1-based: x[1] is the first element")]
    if st.comprehension is not None:
        return [error(f"'{st.name}[{element}]' is one element, so it takes no range",
                      st.comprehension.span, f"drop the range, or define the elements of a "
                      f"range with {st.name}[t] = ... for t in lo:hi")]
    return []


def is_piece(st) -> bool:
    """Whether ``st`` may be one piece of a statement: an element ``x[c] = ...`` (``x[c] ~
    ...``) or a statement over one range ``x[t] = ... for t in lo:hi``."""
    return isinstance(st, (ast.Define, ast.Sample)) and getattr(st, "type", None) is None and (
        st.element is not None
        or (st.comprehension is not None and st.comprehension.inner is None
            and not st.inner_vars))


def family_error(pieces: list[ast.Sample]) -> Diagnostic | None:
    """Pieces of one ``~`` statement must share the distribution and its argument names, since
    they become one distribution whose arguments depend on the index."""
    first = pieces[0].dist
    for p in pieces[1:]:
        if p.dist.func != first.func or \
                [a.name for a in p.dist.args] != [a.name for a in first.args]:
            return error(f"the pieces of '{p.name}' must have the same distribution, with the "
                         f"same arguments: here {p.dist.func}, on line {pieces[0].span.line} "
                         f"{first.func}", p.dist.span,
                         "use one family for every element, with arguments that depend on the "
                         "index (if t == 1 then ... else ...), or add terms with `target +=`")
        if _sides(p) != _sides(pieces[0]):
            return error(f"the pieces of '{p.name}' must be truncated alike: here "
                         f"{_truncation_kind(p)}, on line {pieces[0].span.line} "
                         f"{_truncation_kind(pieces[0])}",
                         p.truncation.span if p.truncation is not None else p.dist.span,
                         "give every piece the same kind of truncation (its ends may differ "
                         "from piece to piece), or truncate none")
    return None


def _truncation_kind(piece: ast.Sample) -> str:
    lower, upper = _sides(piece)
    if not (lower or upper):
        return "no truncation"
    return f"T[{'L' if lower else ''}, {'U' if upper else ''}]"


def _sides(piece: ast.Sample) -> tuple[bool, bool]:
    """Which ends of ``T[L, U]`` a piece gives (none: (False, False))."""
    t = piece.truncation
    return (False, False) if t is None else (t.lower is not None, t.upper is not None)


def merge(pieces: list):
    """One statement equivalent to ``pieces`` (in any order) when they tile their range: a
    definition over ``1:end``, a ``~`` statement from its first piece's start (observed data
    may be modelled in part)."""
    ranged = [p for p in pieces if p.element is None]
    var = ranged[0].comprehension.var if ranged else _INDEX
    ordered = sorted(pieces, key=_start_key)
    last = ordered[-1]
    first = ordered[0]
    lo = ast.Number(1, NO_SPAN) if isinstance(first, ast.Define) else _start(first)
    comprehension = ast.Comprehension(var, lo, _end(last), last.comprehension.span
                                      if last.comprehension else last.span)
    changes = {"index_var": var, "comprehension": comprehension, "element": None,
               "pieces": tuple(pieces)}
    if isinstance(first, ast.Define):
        changes["expr"] = _chain(ordered, [_body(p, p.expr, var) for p in ordered], var)
    else:
        args = tuple(dataclasses.replace(a, value=_chain(
            ordered, [_body(p, p.dist.args[k].value, var) for p in ordered], var))
            for k, a in enumerate(last.dist.args))
        changes["dist"] = dataclasses.replace(last.dist, args=args)
        if last.truncation is not None:  # every piece has the same ends (family_error)
            changes["truncation"] = dataclasses.replace(last.truncation, **{
                side: _chain(ordered, [_body(p, getattr(p.truncation, side), var)
                                       for p in ordered], var)
                for side in ("lower", "upper") if getattr(last.truncation, side) is not None})
    return dataclasses.replace(pieces[0], **changes)


def _chain(ordered: list, bodies: list, var: str) -> ast.Expr:
    """``if t <= end_1 then body_1 else if ... else body_n``: the piece that covers t."""
    body = bodies[-1]
    for piece, inner in zip(reversed(ordered[:-1]), reversed(bodies[:-1])):
        cond = ast.Binary("<=", ast.Name(var, piece.span), _end(piece), piece.span)
        body = ast.Conditional(cond, inner, body, piece.span)
    return body


def _start(piece) -> ast.Expr:
    if piece.element is not None:
        return ast.Number(piece.element, piece.name_span)
    return piece.comprehension.lo


def _start_key(piece: ast.Define) -> tuple:
    """Pieces in order of their first element: constant starts first, by value; others (``for
    t in K + 1:T``) after them, in source order."""
    start = piece.element if piece.element is not None else _literal(piece.comprehension.lo)
    return (0, start, 0) if start is not None else (1, 0, piece.span.line)


def _literal(e) -> int | None:
    return e.value if isinstance(e, ast.Number) and e.is_int else None


def _end(piece: ast.Define) -> ast.Expr:
    if piece.element is not None:
        return ast.Number(piece.element, piece.name_span)
    return piece.comprehension.hi


def _body(piece, expr: ast.Expr, var: str) -> ast.Expr:
    """An expression of the piece in terms of the merged index ``var``."""
    if piece.element is not None:
        return ast.rewrite(expr, lambda node: _earlier(node, piece, var))
    old = piece.comprehension.var
    if old == var:
        return expr
    return ast.rewrite(expr, lambda node: ast.Name(var, node.span)
                    if isinstance(node, ast.Name) and node.id == old else None, bound=old)


def _earlier(node, piece: ast.Define, var: str):
    """``x[k]`` in the piece ``x[c] = ...`` (k < c a constant) as the lag ``x[var - (c - k)]``;
    a constant k >= c is left alone, for the checker to refuse."""
    if isinstance(node, ast.Index) and isinstance(node.base, ast.Name) \
            and node.base.id == piece.name and len(node.indices) == 1:
        k = _literal(node.indices[0])
        if k is not None and k < piece.element:
            lag = ast.Binary("-", ast.Name(var, node.span),
                             ast.Number(piece.element - k, node.span), node.span)
            return dataclasses.replace(node, indices=(lag,))
    return None


def coverage_errors(d, const: Callable[[ast.Expr], int | None], from_one: bool = True
                    ) -> list[Diagnostic]:
    """The elements of a statement by ranges that no piece defines, or that two define, as
    far as ``const`` (the sizes known) decides them: every element of ``1:end`` (of
    ``start:end`` when not ``from_one``) is defined exactly once."""
    pieces = d.pieces or (d,)
    spans = []
    for p in pieces:
        if p.element is not None:
            spans.append((p.element, p.element, p))
        else:
            spans.append((const(p.comprehension.lo), const(p.comprehension.hi), p))
    # Pieces with a known start, in order: each must begin right after the one before ends.
    known = sorted((s for s in spans if s[0] is not None), key=lambda s: (s[0], s[2].span.line))
    every_start = len(known) == len(spans)
    errors = []
    name = d.name
    what = "given a distribution" if isinstance(d, ast.Sample) else "defined"
    if from_one and known and known[0][0] > 1 and every_start:
        first = known[0]
        missing = _elements(1, first[0] - 1)
        errors.append(error(f"{name}{missing} {'is' if first[0] == 2 else 'are'} not defined: "
                            f"the range starts at {first[0]}", _where(first[2]),
                            f"define {name}[1] too (a statement `{name}[1] = ...`), or start "
                            "the range at 1: a definition covers 1:end, each element once"))
    for (lo_a, hi_a, a), (lo_b, hi_b, b) in zip(known, known[1:]):
        if lo_b == lo_a or hi_a is not None and lo_b <= hi_a:
            last = lo_b if hi_a is None else min(hi_a, hi_b if hi_b is not None else hi_a)
            errors.append(error(f"{name}{_elements(lo_b, last)} "
                                f"{'is' if lo_b == last else 'are'} {what} twice, here and on "
                                f"line {a.span.line}", _where(b),
                                "define each element once: make the ranges meet without "
                                "overlapping"))
        elif hi_a is not None and lo_b > hi_a + 1 and every_start:
            one = lo_b == hi_a + 2
            errors.append(error(f"{name}{_elements(hi_a + 1, lo_b - 1)} "
                                f"{'is' if one else 'are'} not {what}: no statement covers "
                                f"{'it' if one else 'them'}", _where(b),
                                "add a statement for the missing elements, or make the ranges "
                                "meet"))
    return errors


def _elements(lo: int, hi: int) -> str:
    return f"[{lo}]" if lo == hi else f"[{lo}:{hi}]"


def _where(piece: ast.Define):
    return piece.comprehension.span if piece.element is None else piece.name_span
