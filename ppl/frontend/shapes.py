"""The state and the shape rules shared by the types pass (:mod:`ppl.frontend.calls`,
:mod:`ppl.frontend.expressions`, :mod:`ppl.frontend.statements`).

Element-wise operations need equal shapes or a scalar (broadcasting is explicit in ppl), and
two axes named after different declared dimensions (``data county: dim``) never combine.
Integer expressions of the data are folded to numbers when the data is known, so sizes and
constant indices are checked against concrete extents.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppl.errors import Diagnostic, error
from ppl.frontend import ast, pretty
from ppl.frontend.names import Scope
from ppl.frontend.types import CONSTRAINED_TYPES, ERROR, Type, merge_names, same_shape
from ppl.source import Span


def fold_int(e: ast.Expr | None, values: Mapping[str, int],
             bindings: Mapping[str, int] | None = None) -> int | None:
    """The value of an integer expression of numbers and names whose ``values`` are known
    (integer data, range variables in ``bindings``), else None."""
    if isinstance(e, ast.Number):
        return e.value if isinstance(e.value, int) else None
    if isinstance(e, ast.Name):
        if bindings and e.id in bindings:
            return bindings[e.id]
        return values.get(e.id)
    if isinstance(e, ast.Unary) and e.op in _UNARY:
        v = fold_int(e.operand, values, bindings)
        return None if v is None else _UNARY[e.op](v)
    if isinstance(e, ast.Binary) and e.op in _BINARY:
        a, b = fold_int(e.left, values, bindings), fold_int(e.right, values, bindings)
        if a is None or b is None:
            return None
        if e.op == "%":
            return a % b if b else None
        return _BINARY[e.op](a, b)
    return None


# The integer operations a size may use; comparisons and logic give 0 or 1, as in the language.
_UNARY = {"-": lambda v: -v, "!": lambda v: int(not v)}
_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "%": None, "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
           "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b),
           ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
           "&&": lambda a, b: int(bool(a and b)), "||": lambda a, b: int(bool(a or b))}


def foldable(e: ast.Expr | None, definitions: Mapping[str, ast.Expr | None]) -> bool:
    """Whether ``e`` is made only of what :func:`fold_int` folds: whole numbers, names of data
    (``definitions`` maps each other name to its definition, folded in turn, or to None when
    it has none) and the operations above."""
    if isinstance(e, ast.Number):
        return isinstance(e.value, int)
    if isinstance(e, ast.Name):
        if e.id not in definitions:
            return True
        definition = definitions[e.id]
        return definition is not None and foldable(definition, definitions)
    if isinstance(e, ast.Unary):
        return e.op in _UNARY and foldable(e.operand, definitions)
    if isinstance(e, ast.Binary):
        return e.op in _BINARY and foldable(e.left, definitions) \
            and foldable(e.right, definitions)
    return False


class ShapeRules:
    """What the types pass knows so far: the type of each checked name (``types``), the
    values of integer scalars of the data (``values``), which names are computable from the
    data alone (``data_only``), and the errors found."""

    def __init__(self, scope: Scope, sizes: Mapping[str, int] | None):
        self.scope = scope
        self.functions = scope.functions
        self.dims = scope.dims
        self.observable_decls = scope.observable
        self.sizes = dict(sizes or {})
        self.bound = sizes is not None  # checked again with the data: every size is known
        self.errors: list[Diagnostic] = []
        self.types: dict[str, Type] = {}
        self.values: dict[str, int] = dict(self.sizes)  # known integer scalars
        self.data_only: dict[str, bool] = {}

    def err(self, message: str, span: Span, hint: str = "") -> Type:
        self.errors.append(error(message, span, hint))
        return ERROR

    def expr(self, e: ast.Expr, local: dict[str, Type]) -> Type:
        """The type of an expression (``local``: types of range variables and arguments)."""
        raise NotImplementedError  # the ExpressionTyper's

    def const(self, e: ast.Expr, bindings: dict[str, int] | None = None) -> int | None:
        """The value of an integer expression of the data, when the data is known
        (``bindings`` give values to range variables)."""
        return fold_int(e, self.values, bindings)

    def is_data_only(self, e, local: dict) -> bool:
        return all(n.id in local or self.data_only.get(n.id, False) for n in ast.free_names(e))

    @staticmethod
    def signature_type(spec: ast.TypeSpec) -> Type:
        """Types in function signatures: sizes are literals or names (left symbolic)."""
        dims = tuple(d.value if isinstance(d, ast.Number) and d.is_int else pretty.expr(d)
                     for d in spec.dims)
        if spec.kind in CONSTRAINED_TYPES:
            dims = dims * CONSTRAINED_TYPES[spec.kind][0]
        return Type("int" if spec.kind == "int" else "real", dims)

    def broadcast_all(self, types: list[Type], args: list[ast.Argument], what: str) -> Type:
        """The real-valued shape of several arguments combined element-wise (strictly)."""
        shape = Type("real")
        for t, a in zip(types, args):
            merged = self.elementwise(shape, t, a.value, what)
            if merged is None:
                return ERROR
            shape = merged
        return shape.with_elem("real")

    def dim_clash(self, a: Type, b: Type) -> tuple[str, str] | None:
        """Two axes named after different declared dimensions (``data county: dim``)."""
        for x, y in zip(a.dim_names, b.dim_names):
            if x != y and x in self.dims and y in self.dims:
                return x, y
        return None

    def elementwise(self, a: Type, b: Type, node: ast.Expr, what: str) -> Type | None:
        """The shape of an element-wise combination; None (and an error) when it would need
        implicit broadcasting between two non-scalars."""
        if a.rank == 0:
            return b
        if b.rank == 0:
            return a
        clash = self.dim_clash(a, b)
        if clash:
            self.err(f"{what} combines values over different dimensions: the left is over "
                     f"'{clash[0]}' and the right over '{clash[1]}'", node.span,
                     f"map one side onto the other's dimension with an index array, e.g. "
                     f"v[idx] with data idx: int[{clash[1]}] for v over '{clash[0]}'")
            return None
        if same_shape(a, b):
            return Type(a.elem, tuple(x if isinstance(x, int) else y for x, y in
                                      zip(a.shape, b.shape)), merge_names(a, b))
        self.err(
            f"{what} needs operands of the same shape, but the left is {a.describe()} and the "
            f"right is {b.describe()}", node.span,
            "broadcasting is explicit in ppl: index or reshape one side so that the shapes "
            "match (a silent (N,1) x (N) broadcast would build an N x N array)")
        return None
