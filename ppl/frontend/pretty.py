"""AST -> source text. ``parse(pretty(program)) == program`` for every program."""

from __future__ import annotations

from ppl.frontend import ast

_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, ".*": 5, "./": 5, "%": 5, "^": 7}
_UNARY = 6
_ATOM = 8
_CONDITIONAL = 0


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if value == float("inf"):  # a literal too large for a float, such as 1e999
        return "1e999"
    text = repr(float(value))
    return text if any(c in text for c in ".e") else text + ".0"


def _precedence(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Conditional):
        return _CONDITIONAL
    if isinstance(expr, ast.Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, ast.Unary):
        return _UNARY
    return _ATOM


def expr(e: ast.Expr) -> str:
    """The source text of an expression, with the fewest parentheses that keep its meaning."""
    if isinstance(e, ast.Number):
        return _number(e.value)
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Conditional):
        return f"if {expr(e.cond)} then {expr(e.then)} else {expr(e.orelse)}"
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(_argument(a) for a in e.args)})"
    if isinstance(e, ast.Unary):
        inner = expr(e.operand)
        if _precedence(e.operand) < _UNARY:
            inner = f"({inner})"
        return f"{e.op}{inner}"
    if isinstance(e, ast.Binary):
        p = _PRECEDENCE[e.op]
        left, right = expr(e.left), expr(e.right)
        if e.op == "^":  # right-associative, binds tighter than unary minus on its left
            if _precedence(e.left) < _ATOM:  # the left is a postfix: (a^b)^c, (-a)^b
                left = f"({left})"
            if _precedence(e.right) < _UNARY:
                right = f"({right})"
            return f"{left}^{right}"
        if _precedence(e.left) < p or (p == 3 and _precedence(e.left) == 3):
            left = f"({left})"
        if _precedence(e.right) <= p:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    if isinstance(e, ast.Index):
        base = expr(e.base)
        if _precedence(e.base) < _ATOM:
            base = f"({base})"
        return f"{base}[{', '.join(_index(i) for i in e.indices)}]"
    if isinstance(e, ast.ArrayComprehension):
        return f"[{expr(e.item)}{_comprehension(e.comprehension)}]"
    if isinstance(e, ast.ArrayLiteral):
        return f"[{', '.join(expr(i) for i in e.items)}]"
    raise TypeError(f"not an expression: {e!r}")


def _argument(a: ast.Argument) -> str:
    return f"{a.name} = {expr(a.value)}" if a.name else expr(a.value)


def _index(i: ast.Expr | ast.Slice) -> str:
    if isinstance(i, ast.Slice):
        return f"{expr(i.lo) if i.lo else ''}:{expr(i.hi) if i.hi else ''}"
    return expr(i)


def type_spec(t: ast.TypeSpec) -> str:
    dims = ", ".join(expr(d) for d in t.dims)
    array = f"[{', '.join(expr(d) for d in t.array)}]" if t.array else ""
    if t.kind not in ("int", "real", "dim") or dims:
        return f"{t.kind}[{dims}]{array}"
    return t.kind


def bounds(b: ast.Bounds | None) -> str:
    if b is None:
        return ""
    if b.lower is not None and b.upper is not None:
        return f" in [{expr(b.lower)}, {expr(b.upper)}]"
    if b.lower is not None:
        return f" {'>' if b.lower_strict else '>='} {expr(b.lower)}"
    return f" {'<' if b.upper_strict else '<='} {expr(b.upper)}"


def truncation(t: ast.Truncation | None) -> str:
    """`` T[L, U]`` (an open end left empty), or ``""``."""
    if t is None:
        return ""
    lower = expr(t.lower) if t.lower is not None else ""
    upper = f" {expr(t.upper)}" if t.upper is not None else " "
    return f" T[{lower},{upper}]"


def _comprehension(c: ast.Comprehension | None) -> str:
    if c is None:
        return ""
    return " for " + ", ".join(f"{r.var} in {expr(r.lo)}:{expr(r.hi)}" for r in c.ranges)


def statement(s: ast.Statement) -> str:
    """The source text of one statement."""
    if isinstance(s, ast.DataDecl):
        return f"data {s.name}: {type_spec(s.type)}{bounds(s.bounds)}"
    if isinstance(s, ast.ParamDecl):
        return f"param {s.name}: {type_spec(s.type)}{bounds(s.bounds)}"
    index_vars = (s.index_var, *s.inner_vars) if getattr(s, "index_var", None) else ()
    lhs = f"{s.name}[{', '.join(index_vars)}]" if index_vars else getattr(s, "name", "")
    if getattr(s, "element", None) is not None:
        lhs = f"{s.name}[{_number(s.element)}]"
    prefix = "generated " if getattr(s, "generated", False) else ""
    if isinstance(s, ast.Sample):
        if s.type is not None:
            lhs = f"{s.name}: {type_spec(s.type)}{bounds(s.bounds)}"
        return (f"{prefix}{lhs} ~ {expr(s.dist)}{truncation(s.truncation)}"
                f"{_comprehension(s.comprehension)}")
    if isinstance(s, ast.Define):
        return f"{prefix}{lhs} = {expr(s.expr)}{_comprehension(s.comprehension)}"
    if isinstance(s, ast.FunctionDef):
        params = ", ".join(f"{n}: {type_spec(t)}" for n, t in s.params)
        return f"function {s.name}({params}): {type_spec(s.returns)} = {expr(s.body)}"
    if isinstance(s, ast.TargetIncrement):
        return f"target += {expr(s.expr)}"
    raise TypeError(f"not a statement: {s!r}")


def program(p: ast.Program) -> str:
    """The source text of a whole program, one statement per line."""
    return "".join(statement(s) + "\n" for s in p.statements)
