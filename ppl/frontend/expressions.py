"""The types pass, expressions: the element kind and shape of every expression (numbers,
names, array literals and comprehensions, operators, conditionals, indexing and slicing), and
the sizes in type declarations, which must be integers known from the data.

Indices are 1-based; a constant index or slice is checked against a concrete extent when the
data is known. A slice whose ends move with a range variable (``y[t - K:t - 1]``) must keep a
fixed length.
"""

from __future__ import annotations

from ppl.frontend import ast, pretty
from ppl.frontend.calls import CallTyper
from ppl.frontend.shapes import foldable
from ppl.frontend.types import (
    CONSTRAINED_TYPES,
    ERROR,
    INT,
    REAL,
    Dim,
    Type,
    dims_equal,
    same_shape,
)

ROW_HINT = ("x' (a transposed vector) is a row: write x' * y for a dot product, "
            "x' * A * x for a quadratic form, x * y' for an outer product; X' transposes a "
            "matrix")


class ExpressionTyper(CallTyper):
    """The types of expressions and type declarations."""

    def size(self, e: ast.Expr, what: str) -> Dim:
        t = self.expr(e, {})
        if t.is_error:
            return "?"
        if t.elem != "int" or t.rank != 0:
            self.err(f"{what} must be an integer, not {t.describe()}", e.span,
                     "use an int data value or an integer expression")
            return "?"
        if not self.is_data_only(e, {}):
            self.err(f"{what} must be known from the data, but it depends on a parameter",
                     e.span, "sizes are fixed before sampling; use int data")
            return "?"
        value = self.const(e)
        if value is None and not foldable(e, self.size_definitions()):
            # Code generation and the memory estimate need every size as a number.
            self.err(f"the size {pretty.expr(e)} cannot be computed before sampling", e.span,
                     "a size is made of int data, whole numbers, +, -, *, %, comparisons, ! "
                     "and integers defined from the data alone: define it first (m = max(y), "
                     "then vector[m])")
            return "?"
        if value is None and self.bound and any(
                self.integer_of_the_data(n.id) and "data" not in self.scope.entries.get(n.id, {})
                for n in ast.free_names(e, frozenset())):
            # Code generation needs the number; an integer definition the data did not give
            # (its evaluation failed) must not reach it as text.
            self.err(f"the size {pretty.expr(e)} could not be computed from the data", e.span,
                     "compute it from int data with functions of the data (m = max(y)), "
                     "not with a recursion")
            return "?"
        return value if value is not None else pretty.expr(e)

    def size_definitions(self) -> dict[str, ast.Expr | None]:
        """The names that are not data, each with its definition (None when it has none or
        is defined over a range), for :func:`foldable`."""
        out: dict[str, ast.Expr | None] = {}
        for name, entry in self.scope.entries.items():
            if "data" in entry or self.integer_of_the_data(name):
                continue
            define = entry.get("define")
            out[name] = define.expr if define is not None and define.comprehension is None \
                else None
        return out

    def integer_of_the_data(self, name: str) -> bool:
        """Whether ``name`` is an integer defined from the data alone (``m = max(y)``), whose
        value the data gives before sampling (evaluated when the data is bound)."""
        t = self.types.get(name)
        return bool(self.data_only.get(name)) and t is not None and t.elem == "int" \
            and t.rank == 0

    def type_spec(self, spec: ast.TypeSpec) -> Type:
        if spec.kind in CONSTRAINED_TYPES:
            rank = CONSTRAINED_TYPES[spec.kind][0]
            size = self.size(spec.dims[0], "a size")
            name = pretty.expr(spec.dims[0]) if isinstance(spec.dims[0], ast.Name) else None
            array = tuple(self.size(d, "a size") for d in spec.array)
            names = tuple(pretty.expr(d) if isinstance(d, ast.Name) else None
                          for d in spec.array)
            return Type("real", array + (size,) * rank, names + (name,) * rank)
        dims = tuple(self.size(d, "a size") for d in spec.dims)
        names = tuple(pretty.expr(d) if isinstance(d, ast.Name) else None for d in spec.dims)
        for d, e in zip(dims, spec.dims):
            if isinstance(d, int) and d < 0:
                self.err(f"a size must not be negative; here it is {d}", e.span,
                         "check the data value that sets this size")
        elem = "int" if spec.kind in ("int", "dim") else "real"
        return Type(elem, dims, names)

    def expr(self, e: ast.Expr, local: dict[str, Type]) -> Type:
        if ast.may_be_row(e):
            row, t = self.product(e, local)
            if row:
                return self.err("this is a transposed vector (a row); ppl has no row vectors, "
                                "so a row may only be multiplied by a vector, a matrix or a "
                                "scalar", e.span, ROW_HINT)
            return t
        if isinstance(e, ast.Number):
            return INT if e.is_int else REAL
        if isinstance(e, ast.Name):
            if e.id in local:
                return local[e.id]
            if e.id not in self.types and e.id in self.observable_decls:
                return self.type_spec(self.observable_decls[e.id].type)
            return self.types.get(e.id, ERROR)
        if isinstance(e, ast.ArrayLiteral):
            items = [self.expr(i, local) for i in e.items]
            if any(t.is_error for t in items):
                return ERROR
            first = items[0]
            for item, node in zip(items[1:], e.items[1:]):
                if not same_shape(first, item):
                    return self.err(f"array elements must all have the same shape; this one is "
                                    f"{item.describe()}, the first is {first.describe()}",
                                    node.span)
            elem = "int" if all(t.elem == "int" for t in items) else "real"
            return Type(elem, (len(items),) + first.shape, (None,) + first.dim_names)
        if isinstance(e, ast.Conditional):
            return self.conditional(e, local)
        if isinstance(e, ast.ArrayComprehension):
            grid = self.grid(e.comprehension)
            item = self.expr(e.item, {**local, **{v: INT for v in e.comprehension.variables}})
            if item.is_error:
                return ERROR
            return Type(item.elem, grid.shape + item.shape, grid.dim_names + item.dim_names)
        if isinstance(e, ast.Unary):
            t = self.expr(e.operand, local)
            return t.with_elem("int") if e.op == "!" and not t.is_error else t
        if isinstance(e, ast.Binary):
            return self.binary(e, local)
        if isinstance(e, ast.Call):
            return self.call(e, local)
        if isinstance(e, ast.Index):
            return self.index(e, local)
        raise TypeError(e)

    def product(self, e: ast.Expr, local) -> tuple[bool, Type]:
        """``(is_row, type)`` of an expression that may hold a transposed vector (see
        :func:`ast.may_be_row`). A row's type is that of the vector it came from; ``x' * y``
        is a scalar (the dot product), ``x' * A`` a row, ``x * y'`` a matrix (the outer
        product), a scalar times a row a row."""
        if ast.is_transpose(e):
            operand = e.args[0].value
            was_row, t = self.product(operand, local) if ast.may_be_row(operand) \
                else (False, self.expr(operand, local))
            if t.is_error:
                return False, ERROR
            if was_row:  # (x' * A)' is the vector A' x
                return False, t
            if t.rank == 1:
                return True, t
            if t.rank == 2:
                return False, Type(t.elem, t.shape[::-1], t.dim_names[::-1])
            hint = ("remove the transpose: a scalar is its own transpose" if t.rank == 0
                    else "transpose a vector or a matrix")
            return False, self.err(f"only a vector or a matrix can be transposed, not "
                                   f"{t.describe()}", e.func_span, hint)
        if isinstance(e, ast.Unary) and e.op == "-":
            return self.product(e.operand, local)
        if not (isinstance(e, ast.Binary) and e.op == "*"):
            return False, self.expr(e, local)
        (left_row, a), (right_row, b) = self.product(e.left, local), self.product(e.right, local)
        if a.is_error or b.is_error:
            return False, ERROR
        if not left_row and not right_row:
            return False, self.binary_types(e, a, b)
        if left_row and right_row:
            return False, self.err("two rows (transposed vectors) cannot be multiplied", e.span,
                                   ROW_HINT)
        row, other = (a, b) if left_row else (b, a)
        if other.rank == 0:
            return True, row.with_elem("real")
        if left_row and other.rank in (1, 2):
            if dims_equal(row.shape[0], other.shape[0]) is False:
                return False, self.err(
                    f"a row of {row.shape[0]} elements times {other.describe()}: the sizes "
                    f"must agree ({row.shape[0]} and {other.shape[0]})", e.span, ROW_HINT)
            if other.rank == 1:
                return False, REAL
            return True, Type("real", other.shape[1:], other.dim_names[1:])
        if right_row and other.rank == 1:
            return False, Type("real", (other.shape[0], row.shape[0]),
                               (other.dim_names[0], row.dim_names[0]))
        side = "on the left of" if right_row else "on the right of"
        return False, self.err(f"{other.describe()} cannot be {side} a row (a transposed "
                               "vector)", e.span, ROW_HINT)

    def binary(self, e: ast.Binary, local) -> Type:
        a, b = self.expr(e.left, local), self.expr(e.right, local)
        if a.is_error or b.is_error:
            return ERROR
        return self.binary_types(e, a, b)

    def binary_types(self, e: ast.Binary, a: Type, b: Type) -> Type:
        """The type of ``a op b`` for operands of the types ``a`` and ``b``."""
        op = e.op
        if op == "*" and a.rank == 2 and b.rank in (1, 2):
            if dims_equal(a.shape[1], b.shape[0]) is False:
                return self.err(
                    f"matrix product of {a.describe()} and {b.describe()}: the left has "
                    f"{a.shape[1]} columns but the right has {b.shape[0]} rows", e.span,
                    "the inner sizes of a matrix product must agree")
            return Type("real", (a.shape[0],) + b.shape[1:], (a.dim_names[0],) + b.dim_names[1:])
        if op == "*" and a.rank == 1 and b.rank == 2:
            return self.err(f"cannot multiply {a.describe()} by {b.describe()}", e.span,
                            "a vector times a matrix is ambiguous; write the matrix on the left")
        what = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division",
                ".*": "element-wise multiplication", "./": "element-wise division",
                "%": "the modulus", "^": "the power"}.get(op, f"'{op}'")
        shape = self.elementwise(a, b, e, what)
        if shape is None:
            return ERROR
        if op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||"):
            return shape.with_elem("int")
        both_int = a.elem == "int" and b.elem == "int"
        elem = "int" if both_int and op in ("+", "-", "*", ".*", "%") else "real"
        return shape.with_elem(elem)

    def conditional(self, e: ast.Conditional, local) -> Type:
        cond = self.expr(e.cond, local)
        a, b = self.expr(e.then, local), self.expr(e.orelse, local)
        if cond.is_error or a.is_error or b.is_error:
            return ERROR
        if cond.elem != "int" or cond.rank != 0:
            return self.err(f"the condition of 'if' must be a single integer (a comparison), "
                            f"not {cond.describe()}", e.cond.span,
                            "compare scalars, e.g. if t == 1 then ... else ...")
        if not same_shape(a, b):
            return self.err(f"the two branches of 'if' must have the same shape, but 'then' is "
                            f"{a.describe()} and 'else' is {b.describe()}", e.span)
        return a.with_elem("int" if a.elem == b.elem == "int" else "real")

    def index(self, e: ast.Index, local) -> Type:
        base = self.expr(e.base, local)
        if base.is_error:
            return ERROR
        if len(e.indices) > base.rank:
            return self.err(f"too many indices: {base.describe()} has {base.rank} "
                            f"dimension{'s' if base.rank != 1 else ''}, but {len(e.indices)} "
                            "indices are given", e.span, "use one index per dimension")
        shape: list[Dim] = []
        names: list[str | None] = []
        multi = 0
        for axis, item in enumerate(e.indices):
            size = base.shape[axis]
            if isinstance(item, ast.Slice) and self.moves(item, local):
                width = self.moving_slice(item, local, size)
                if width is None:
                    return ERROR
                shape.append(width)
                names.append(None)
                continue
            if isinstance(item, ast.Slice):
                lo = self.slice_end(item.lo, local, 1)
                hi = self.slice_end(item.hi, local, size)
                if lo is None or hi is None:
                    return ERROR
                if isinstance(lo, int) and isinstance(hi, int):
                    width: Dim = hi - lo + 1
                    if isinstance(size, int) and (lo < 1 or hi > size or width < 0):
                        return self.err(f"slice {lo}:{hi} is outside 1:{size}", item.span,
                                        "indices are 1-based and both ends are included")
                else:
                    width = f"{pretty.expr(item.hi) if item.hi else size} - " \
                            f"{pretty.expr(item.lo) if item.lo else 1} + 1"
                shape.append(width)
                names.append(base.dim_names[axis] if width == size else None)
                continue
            t = self.expr(item, local)
            if t.is_error:
                return ERROR
            if t.elem != "int":
                return self.err(f"an index must be an integer, not {t.describe()}", item.span,
                                "indices are 1-based integers")
            if t.rank == 1:
                multi += 1
                shape.append(t.shape[0])
                names.append(t.dim_names[0])
            elif t.rank > 1:
                return self.err(f"an index must be an int or an int array, not {t.describe()}",
                                item.span)
            else:
                value = self.const(item) if not local else None
                if isinstance(value, int) and isinstance(size, int) and not 1 <= value <= size:
                    return self.err(f"index {value} is outside 1:{size}", item.span,
                                    "indices are 1-based")
        if multi > 1:
            return self.err("only one index may be an array of indices", e.span,
                            "index one dimension with an array and the others with scalars")
        rest = base.shape[len(e.indices):]
        rest_names = base.dim_names[len(e.indices):]
        return Type(base.elem, tuple(shape) + rest, tuple(names) + rest_names)

    def slice_end(self, node, local, default) -> Dim | None:
        if node is None:
            return default
        t = self.expr(node, local)
        if t.is_error:
            return None
        if t.elem != "int" or t.rank != 0:
            self.err(f"a slice end must be an integer, not {t.describe()}", node.span)
            return None
        if not self.is_data_only(node, {}):
            self.err("slice ends must be known from the data", node.span,
                     "a slice's length is fixed before sampling; use int data or literals")
            return None
        value = self.const(node)
        return value if value is not None else pretty.expr(node)

    @staticmethod
    def moves(item: ast.Slice, local) -> bool:
        """Whether a slice's ends depend on a range variable (a window moving with it)."""
        return any(n.id in local for end in (item.lo, item.hi) for n in ast.free_names(end))

    def moving_slice(self, item: ast.Slice, local, size: Dim) -> Dim | None:
        """A window such as ``y[t - K:t - 1]``: its ends may move with the range variable,
        its length may not (lengths are fixed before sampling)."""
        for end in (item.lo, item.hi):
            if end is None:
                continue
            t = self.expr(end, local)
            if t.is_error:
                return None
            if t.elem != "int" or t.rank != 0:
                self.err(f"a slice end must be an integer, not {t.describe()}", end.span)
                return None
            if not self.is_data_only(end, local):
                self.err("slice ends must be known from the data and the range variable",
                         end.span, "a slice's length is fixed before sampling")
                return None
        lo = item.lo or ast.Number(1)
        hi = item.hi or (ast.Number(size) if isinstance(size, int) else None)
        if hi is None:
            return "?"
        variables = {n.id for end in (lo, hi) for n in ast.free_names(end) if n.id in local}
        widths = set()
        for value in (0, 1):
            bound = {v: value for v in variables}
            a, b = self.const(lo, bound), self.const(hi, bound)
            if a is None or b is None:
                return f"{pretty.expr(hi)} - {pretty.expr(lo)} + 1"
            widths.add(b - a + 1)
        if len(widths) > 1:
            self.err(f"the length of this slice changes with {', '.join(sorted(variables))}",
                     item.span, "a moving window needs a fixed length, e.g. y[t - K:t - 1]")
            return None
        width = widths.pop()
        if width < 0:
            self.err(f"this slice runs backwards (length {width})", item.span,
                     "write the lower end first: lo:hi")
            return None
        return width

    def comprehension(self, c: ast.Comprehension) -> Dim:
        lo = self.size(c.lo, "the start of a range")
        hi = self.size(c.hi, "the end of a range")
        if isinstance(lo, int) and isinstance(hi, int):
            if hi < lo - 1:
                self.err(f"the range {lo}:{hi} runs backwards", c.span,
                         "ranges count up: write lo:hi with lo <= hi")
            return max(0, hi - lo + 1)
        if lo == 1:
            return hi
        return f"{hi} - {lo} + 1"

    def grid(self, c: ast.Comprehension) -> Type:
        """The extents of ``for n in 1:N, k in 1:K`` (one axis per range, the first
        outermost), as the shape of a type; each index must have its own name."""
        seen: set[str] = set()
        for r in c.ranges:
            if r.var in seen:
                self.err(f"the index '{r.var}' is used twice in this range", r.span,
                         "give each index its own name: for i in 1:I, j in 1:J")
            seen.add(r.var)
        return Type("int", tuple(self.comprehension(r) for r in c.ranges),
                    tuple(self.range_dim_name(r) for r in c.ranges))

    def range_dim_name(self, c: ast.Comprehension) -> str | None:
        """``for n in 1:N`` makes an axis named ``N``; other ranges give unnamed axes."""
        starts_at_one = isinstance(c.lo, ast.Number) and c.lo.value == 1
        return pretty.expr(c.hi) if isinstance(c.hi, ast.Name) and starts_at_one else None
