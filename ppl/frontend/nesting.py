"""How deeply expressions nest: a parsed program whose expressions nest deeper than the
compiler's recursive walks can afford is refused with a located error."""

from __future__ import annotations

import dataclasses

from ppl.errors import error
from ppl.frontend import ast
from ppl.source import Span

# The checker, the code generator and the IR walk expressions recursively, spending up to
# about three Python frames per level; a nested call chain failed at about 330 levels from an
# empty stack (a sum at about 500). A conditional or an array comprehension costs about ten
# frames (JAX traces its branches or its body inside), failing at about 80 levels, so it counts
# as HEAVY_LEVEL levels. 100 leaves room under Python's default limit of 1000 for the caller's
# own frames (pytest, Jupyter) without touching the interpreter's limit.
MAX_NESTING = 100
HEAVY_LEVEL = 5

_EXPRESSIONS = (ast.Binary, ast.Unary, ast.Call, ast.Index, ast.ArrayLiteral, ast.Slice)
_HEAVY = (ast.Conditional, ast.ArrayComprehension)


def _deepest(root, callees: dict[str, int]) -> tuple[int, object | None]:
    """The weighted nesting depth of ``root`` and the first node found past
    :data:`MAX_NESTING` (or None). A call of a user-defined function adds the depth of its body
    (``callees``), since evaluating the call recurses into it. The walk keeps its own stack,
    so that it cannot itself run out of Python's."""
    deepest = 0
    stack: list[tuple[object, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (tuple, list)):
            stack.extend((item, depth) for item in reversed(node))
            continue
        if not dataclasses.is_dataclass(node):
            continue
        if isinstance(node, _EXPRESSIONS + _HEAVY):
            depth += HEAVY_LEVEL if isinstance(node, _HEAVY) else 1
            reach = depth + (callees.get(node.func, 0) if isinstance(node, ast.Call) else 0)
            deepest = max(deepest, reach)
            if reach > MAX_NESTING:
                return deepest, node
        stack.extend((getattr(node, f.name), depth) for f in reversed(dataclasses.fields(node))
                     if f.name not in ("span", "name_span", "func_span"))
    return deepest, None


def _calls(root) -> list[str]:
    """The names called anywhere in ``root``."""
    names, stack = [], [root]
    while stack:
        node = stack.pop()
        if isinstance(node, (tuple, list)):
            stack.extend(node)
        elif dataclasses.is_dataclass(node):
            if isinstance(node, ast.Call):
                names.append(node.func)
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
    return names


def _callees_first(functions: dict[str, ast.FunctionDef]) -> list[ast.FunctionDef]:
    """The user-defined functions, each after the ones it calls. A call back into a function
    still being ordered (recursion) is skipped, so it adds no depth here."""
    order: list[ast.FunctionDef] = []
    state: dict[str, int] = {}
    for name in functions:
        stack = [(name, iter(_calls(functions[name].body)))]
        state.setdefault(name, 1)
        if state[name] == 2:
            continue
        while stack:
            current, pending = stack[-1]
            callee = next((c for c in pending if c in functions and c not in state), None)
            if callee is None:
                stack.pop()
                state[current] = 2
                order.append(functions[current])
            else:
                state[callee] = 1
                stack.append((callee, iter(_calls(functions[callee].body))))
    return order


def too_deep(program: ast.Program):
    """The first expression nested more than :data:`MAX_NESTING` levels deep, or None."""
    functions = {s.name: s for s in program.statements if isinstance(s, ast.FunctionDef)}
    callees: dict[str, int] = {}
    for definition in _callees_first(functions):
        depth, deep = _deepest(definition.body, callees)
        if deep is not None:
            return deep
        callees[definition.name] = depth
    for statement in program.statements:
        if not isinstance(statement, ast.FunctionDef):
            deep = _deepest(statement, callees)[1]
            if deep is not None:
                return deep
    return None


def nesting_error(node):
    span = node.span
    return error(f"this expression is nested too deeply (more than {MAX_NESTING} levels of "
                 "operators, calls or brackets; a conditional or an array comprehension counts "
                 f"as {HEAVY_LEVEL})", Span(span.line, span.column, span.line,
                                                      span.column),
                 "split the expression into named definitions (a = ..., then b = a + ...); a "
                 "long sum of terms can be sum() of a vector")
