"""Lint rule: a distribution given to a quantity computed from parameters by a non-linear map.

``z = exp(x)`` then ``z ~ lognormal(0, 1)`` adds the density of z to the target, as Stan's
``~`` on a transformed parameter does. That is a density for x only with the log |Jacobian| of
the map added (here ``target += x``); an affine map (``err = y - mu``) has a constant Jacobian,
so nothing is missing. The rule classifies each such definition as constant, affine or
non-linear in the parameters and warns for the non-linear ones, as Stan's compiler does. A
definition computed from data (a residual ``err = y - f(theta)``) is a likelihood of the data
written through it: the map from the data has a unit Jacobian, so it is not warned.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppl.errors import Diagnostic, warning
from ppl.frontend import ast
from ppl.frontend.symbols import CheckedModel, Symbol

CONSTANT, AFFINE, NONLINEAR = 0, 1, 2

# Functions that are linear in their arguments (the others are affine only when every argument
# is constant).
_LINEAR = {"sum", "append_row", "append_col", "to_vector", "cumulative_sum", "transpose",
           "head", "tail", "reverse", "diag_matrix", "diagonal", "mean", "rep_vector",
           "rep_array", "rep_matrix", "to_matrix", "segment"}
# Products: affine when all but one factor are constant.
_PRODUCTS = {"*", ".*", "dot_product", "diag_pre_multiply", "diag_post_multiply"}


def jacobian_warnings(checked: CheckedModel) -> list[Diagnostic]:
    """A warning for every ``~`` on a non-linear function of the parameters."""
    out = []
    for sym in checked.symbols.values():
        if sym.kind != "observable" or sym.define is None or sym.data_only \
                or sym.sample is None:
            continue
        if _reads_data(sym, checked.symbols):
            # A residual of the data (err = y - f(theta)): the statement is the likelihood of
            # y written through err, whose map from y has a unit Jacobian; nothing is missing.
            continue
        if _definition_class(sym, checked.symbols, frozenset()) == NONLINEAR:
            out.append(warning(
                f"'{sym.name}' is a non-linear function of parameters and has a distribution: "
                f"its density is added to the target, but the log |Jacobian| of the map from "
                f"the parameters to '{sym.name}' is not", sym.sample.name_span,
                "if the parameters are meant to have this distribution through "
                f"'{sym.name}', add the log |Jacobian| with target += ... (for z = exp(x): "
                "target += x), or give the distribution to a parameter"))
    return out


def _reads_data(sym: Symbol, symbols: Mapping[str, Symbol]) -> bool:
    """Whether ``sym`` is computed from data, directly or through other definitions."""
    todo, seen = list(sym.depends), {sym.name}
    while todo:
        name = todo.pop()
        if name in seen or name not in symbols:
            continue
        seen.add(name)
        other = symbols[name]
        if other.data_decl is not None:
            return True
        if other.define is not None:
            todo += other.depends
    return False


def _definition_class(sym: Symbol, symbols: Mapping[str, Symbol], seen: frozenset[str]) -> int:
    if sym.data_only or sym.kind == "data":
        return CONSTANT
    if sym.define is None:  # a parameter
        return CONSTANT if sym.kind == "observable" and sym.data_decl is not None else AFFINE
    if sym.name in seen or sym.name in sym.depends:  # a recursion: not analysed
        return NONLINEAR
    c = sym.define.comprehension
    bound = frozenset(c.variables) if c else frozenset()
    return expression_class(sym.define.expr, symbols, bound, seen | {sym.name})


def expression_class(e, symbols: Mapping[str, Symbol], bound: frozenset[str],
                     seen: frozenset[str] = frozenset()) -> int:
    """CONSTANT, AFFINE or NONLINEAR: how ``e`` depends on the model's parameters."""
    def of(x):
        return expression_class(x, symbols, bound, seen)

    if e is None or isinstance(e, ast.Number):
        return CONSTANT
    if isinstance(e, ast.Name):
        sym = symbols.get(e.id)
        return CONSTANT if e.id in bound or sym is None else _definition_class(sym, symbols, seen)
    if isinstance(e, ast.Unary):
        inner = of(e.operand)
        return inner if e.op == "-" or inner == CONSTANT else NONLINEAR
    if isinstance(e, ast.Binary):
        left, right = of(e.left), of(e.right)
        if e.op in ("+", "-"):
            return max(left, right)
        if e.op in _PRODUCTS:
            return max(left, right) if CONSTANT in (left, right) else NONLINEAR
        if e.op in ("/", "./"):
            return left if right == CONSTANT else NONLINEAR
        return CONSTANT if left == right == CONSTANT else NONLINEAR
    if isinstance(e, ast.Index):
        if any(of(i) != CONSTANT for i in e.indices):
            return NONLINEAR
        return of(e.base)
    if isinstance(e, ast.Slice):
        return max(of(e.lo), of(e.hi))
    if isinstance(e, ast.ArrayLiteral):
        return max((of(i) for i in e.items), default=CONSTANT)
    if isinstance(e, ast.ArrayComprehension):
        c = e.comprehension
        inner = expression_class(e.item, symbols, bound | set(c.variables), seen)
        return max(inner, *(of(r.lo) for r in c.ranges), *(of(r.hi) for r in c.ranges))
    if isinstance(e, ast.Conditional):
        if of(e.cond) != CONSTANT:
            return NONLINEAR
        return max(of(e.then), of(e.orelse))
    if isinstance(e, ast.Call):
        classes = [of(a.value) for a in e.args]
        if all(c == CONSTANT for c in classes):
            return CONSTANT
        if e.func in _LINEAR:
            return max(classes)
        if e.func in _PRODUCTS:
            return max(classes) if classes.count(CONSTANT) >= len(classes) - 1 else NONLINEAR
        return NONLINEAR
    return NONLINEAR  # anything new: warn rather than stay silent
