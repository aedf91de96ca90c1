"""The abstract syntax tree: frozen dataclasses, each carrying its source span.

Spans compare equal to each other (see :class:`ppl.source.Span`), so two trees are equal
exactly when they have the same structure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ppl.source import NO_SPAN, Span

# ---------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Number:
    value: float | int
    span: Span = NO_SPAN

    @property
    def is_int(self) -> bool:
        return isinstance(self.value, int)


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Argument:
    """A call argument, positional (``name`` is None) or by keyword."""

    value: Expr
    name: str | None = None
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Argument, ...]
    span: Span = NO_SPAN
    func_span: Span = NO_SPAN


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "!"
    operand: Expr
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Slice:
    """``lo:hi`` inside brackets, both ends inclusive and 1-based; a missing end is open."""

    lo: Expr | None
    hi: Expr | None
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Index:
    base: Expr
    indices: tuple[Expr | Slice, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Expr, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Conditional:
    """``if cond then a else b``; only the chosen branch is evaluated for a scalar condition."""

    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = NO_SPAN


@dataclass(frozen=True)
class ArrayComprehension:
    """``[expr for k in lo:hi]``: an array with one element per value of k (vectorised)."""

    item: Expr
    comprehension: Comprehension
    span: Span = NO_SPAN


Expr = (ArrayComprehension | Conditional | Number | Name | Call | Binary | Unary | Index
        | ArrayLiteral)

# ---------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class TypeSpec:
    """``int``, ``real``, ``vector[n]``, ``matrix[n, m]`` or an array ``int[..]`` / ``real[..]``."""

    kind: str  # "int", "real", "vector", "matrix", or a constrained type such as "simplex"
    dims: tuple[Expr, ...] = ()
    span: Span = NO_SPAN
    # `simplex[K][N]`: an array of N constrained values (the sizes after the type's own)
    array: tuple[Expr, ...] = ()

    @property
    def axes(self) -> tuple[Expr, ...]:
        """The size of each axis of a value of this type, outermost first."""
        from ppl.frontend.types import CONSTRAINED_TYPES

        if self.kind in CONSTRAINED_TYPES:
            return self.array + self.dims[:1] * CONSTRAINED_TYPES[self.kind][0]
        return self.array + self.dims

    @property
    def is_int(self) -> bool:
        return self.kind == "int"


@dataclass(frozen=True)
class Bounds:
    """Lower and/or upper bounds; ``strict`` bounds exclude the end point (``> 0``)."""

    lower: Expr | None = None
    upper: Expr | None = None
    lower_strict: bool = False
    upper_strict: bool = False
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Truncation:
    """``T[L, U]`` after a distribution (``T[L, ]``, ``T[, U]``): the distribution restricted
    to L <= y <= U and normalised; ``None`` for an open end."""

    lower: Expr | None = None
    upper: Expr | None = None
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Comprehension:
    """``for var in lo:hi`` -- a map over an integer range, compiled to vectorised code."""

    var: str
    lo: Expr
    hi: Expr
    span: Span = NO_SPAN
    # ``for n in 1:N, k in 1:K``: the range of the next index (a grid, ``n`` outermost).
    inner: Comprehension | None = None

    @property
    def ranges(self) -> tuple[Comprehension, ...]:
        """This range and the inner ones, outermost first."""
        return (self,) + (self.inner.ranges if self.inner is not None else ())

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(r.var for r in self.ranges)


# ---------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class DataDecl:
    name: str
    type: TypeSpec
    bounds: Bounds | None
    span: Span = NO_SPAN
    name_span: Span = NO_SPAN


@dataclass(frozen=True)
class ParamDecl:
    name: str
    type: TypeSpec
    bounds: Bounds | None
    span: Span = NO_SPAN
    name_span: Span = NO_SPAN


@dataclass(frozen=True)
class Sample:
    """``name ~ dist(args)``, ``name[i] ~ dist(..) for i in a:b`` or ``name: type ~ dist(..)``."""

    name: str
    dist: Call
    index_var: str | None = None
    inner_vars: tuple[str, ...] = ()  # `y[n, k] ~ ...`: the indices after the first
    comprehension: Comprehension | None = None
    type: TypeSpec | None = None
    bounds: Bounds | None = None
    span: Span = NO_SPAN
    name_span: Span = NO_SPAN
    generated: bool = False  # `generated y_rep ~ ...`: a random draw after sampling
    truncation: Truncation | None = None  # `~ normal(mu, s) T[L, U]`
    element: int | float | None = None  # `y[1] ~ ...`: one element, a piece
    element_span: Span = NO_SPAN
    # `y[1] ~ ...` with `y[t] ~ ... for t in 2:T`, merged by the names pass into one
    # statement over the range (see ppl/frontend/pieces.py): the pieces as written.
    pieces: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class Define:
    """``name = expr`` or ``name[i] = expr for i in a:b``: a deterministic quantity."""

    name: str
    expr: Expr
    index_var: str | None = None
    inner_vars: tuple[str, ...] = ()  # `m[i, j] = ...`: the indices after the first
    comprehension: Comprehension | None = None
    span: Span = NO_SPAN
    name_span: Span = NO_SPAN
    generated: bool = False  # `generated x = ...`: computed after sampling only
    element: int | float | None = None  # `x[1] = ...`: one element, a piece of a definition
    element_span: Span = NO_SPAN
    # A definition given in pieces (`x[1] = ...`, `x[t] = ... for t in 2:T`) merged into one
    # over 1:end by the names pass (see ppl/frontend/pieces.py): the pieces as written.
    pieces: tuple[Define, ...] = ()


@dataclass(frozen=True)
class TargetIncrement:
    """``target += expr``: adds ``sum(expr)`` to the log-density."""

    expr: Expr
    span: Span = NO_SPAN


@dataclass(frozen=True)
class FunctionDef:
    """``function f(x: real, v: vector[2]): vector[2] = expr``: pure, one expression."""

    name: str
    params: tuple[tuple[str, TypeSpec], ...]
    returns: TypeSpec
    body: Expr
    span: Span = NO_SPAN
    name_span: Span = NO_SPAN


Statement = FunctionDef | DataDecl | ParamDecl | Sample | Define | TargetIncrement


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]


def children(node) -> list:
    """The expressions directly inside an expression (or a slice or comprehension)."""
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Call):
        return [a.value for a in node.args]
    if isinstance(node, Index):
        return [node.base, *node.indices]
    if isinstance(node, Slice):
        return [e for e in (node.lo, node.hi) if e is not None]
    if isinstance(node, ArrayLiteral):
        return list(node.items)
    if isinstance(node, Conditional):
        return [node.cond, node.then, node.orelse]
    if isinstance(node, ArrayComprehension):
        return [node.item, *(e for r in node.comprehension.ranges for e in (r.lo, r.hi))]
    return []


def walk(node):
    """Every expression inside ``node`` (itself first), depth first."""
    if node is None:
        return
    yield node
    for child in children(node):
        yield from walk(child)


def free_names(node, bound: frozenset[str] = frozenset()) -> Iterator[Name]:
    """Every name an expression (or call, slice, type) refers to, minus ``bound`` names."""
    if node is None:
        return
    if isinstance(node, Name):
        if node.id not in bound:
            yield node
    elif isinstance(node, Call):
        for a in node.args:
            yield from free_names(a.value, bound)
    elif isinstance(node, Binary):
        yield from free_names(node.left, bound)
        yield from free_names(node.right, bound)
    elif isinstance(node, Unary):
        yield from free_names(node.operand, bound)
    elif isinstance(node, Index):
        yield from free_names(node.base, bound)
        for i in node.indices:
            yield from free_names(i, bound)
    elif isinstance(node, Slice):
        yield from free_names(node.lo, bound)
        yield from free_names(node.hi, bound)
    elif isinstance(node, ArrayLiteral):
        for i in node.items:
            yield from free_names(i, bound)
    elif isinstance(node, Conditional):
        for part in (node.cond, node.then, node.orelse):
            yield from free_names(part, bound)
    elif isinstance(node, ArrayComprehension):
        c = node.comprehension
        for r in c.ranges:
            yield from free_names(r.lo, bound)
            yield from free_names(r.hi, bound)
        yield from free_names(node.item, bound | set(c.variables))
    elif isinstance(node, TypeSpec):
        for d in node.dims + node.array:
            yield from free_names(d, bound)
    elif isinstance(node, (Bounds, Truncation)):
        yield from free_names(node.lower, bound)
        yield from free_names(node.upper, bound)


def calls(node) -> Iterator[Call]:
    """Every call inside an expression (itself first), depth first."""
    if isinstance(node, Call):
        yield node
        for a in node.args:
            yield from calls(a.value)
    elif isinstance(node, Binary):
        yield from calls(node.left)
        yield from calls(node.right)
    elif isinstance(node, Unary):
        yield from calls(node.operand)
    elif isinstance(node, Index):
        yield from calls(node.base)
        for i in node.indices:
            if isinstance(i, Slice):
                yield from calls(i.lo)
                yield from calls(i.hi)
            else:
                yield from calls(i)
    elif isinstance(node, ArrayLiteral):
        for i in node.items:
            yield from calls(i)
    elif isinstance(node, Conditional):
        for part in (node.cond, node.then, node.orelse):
            yield from calls(part)
    elif isinstance(node, ArrayComprehension):
        yield from calls(node.item)


def self_references(node, name: str) -> list:
    """Every ``name[...]`` (or bare ``name``) inside an expression."""
    found = []

    def walk(n):
        if isinstance(n, Index) and isinstance(n.base, Name) and n.base.id == name:
            found.append(n)
            for i in n.indices:
                walk(i)
            return
        if isinstance(n, Name) and n.id == name:
            found.append(n)
        for child in children(n):
            walk(child)

    walk(node)
    return found


def is_transpose(node) -> bool:
    """Whether ``node`` is ``x'`` (the same as ``transpose(x)``)."""
    return (isinstance(node, Call) and node.func == "transpose" and len(node.args) == 1
            and node.args[0].name is None)


def may_be_row(node) -> bool:
    """Whether ``node`` may be a row, a transposed vector (``x'``, ``x' * A``, ``-x'``, ``2 *
    x'``): the language has no row vectors, so such products are typed and evaluated
    together, and a row may only be multiplied."""
    if is_transpose(node):
        return True
    if isinstance(node, Unary) and node.op == "-":
        return may_be_row(node.operand)
    if isinstance(node, Binary) and node.op == "*":
        return may_be_row(node.left) or may_be_row(node.right)
    return False


def recursion_lag(use, var: str) -> int | None:
    """k for a use ``x[var - k]`` with an integer literal k >= 1, else None."""
    if not isinstance(use, Index) or len(use.indices) != 1:
        return None
    index = use.indices[0]
    if (isinstance(index, Binary) and index.op == "-" and isinstance(index.left, Name)
            and index.left.id == var and isinstance(index.right, Number)
            and isinstance(index.right.value, int) and index.right.value >= 1):
        return index.right.value
    return None


def element_uses(node, names: set[str], var: str | None) -> Iterator[tuple[Expr, bool]]:
    """Each use of one of ``names`` in ``node``, and whether it is the element ``name[var]``."""
    if isinstance(node, Index) and isinstance(node.base, Name) and node.base.id in names:
        only = node.indices[0] if len(node.indices) == 1 else None
        yield node, var is not None and isinstance(only, Name) and only.id == var
        return
    if isinstance(node, Name):
        if node.id in names:
            yield node, False
        return
    if isinstance(node, TypeSpec):
        inside = list(node.dims + node.array)
    elif isinstance(node, Bounds):
        inside = [e for e in (node.lower, node.upper) if e is not None]
    else:
        inside = children(node)
    for child in inside:
        yield from element_uses(child, names, var)


def rewrite(node, change: Callable, bound: str | None = None):
    """``node`` with every sub-node for which ``change`` returns a replacement replaced; an
    array comprehension that binds ``bound`` again is left as it is (its own variable)."""
    replaced = change(node)
    if replaced is not None:
        return replaced
    if isinstance(node, ArrayComprehension) and bound in node.comprehension.variables:
        return node
    if not dataclasses.is_dataclass(node):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(rewrite(v, change, bound) for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = rewrite(value, change, bound)
    return dataclasses.replace(node, **changes) if changes else node
