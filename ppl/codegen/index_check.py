"""Integer data used as an index, checked against the range of what it indexes, at bind time.

``alpha[g]`` and ``alpha[g[n]] for n in 1:N`` with 0-based group codes would otherwise run and
give a silently wrong answer: JAX wraps a negative index and clips (or fills) one past the end.
Declared bounds (``data g: int[N] in [1, J]``) catch this when they are written; this check
catches it when they are not, with the data name, the element and the valid range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from ppl.errors import Diagnostic, error
from ppl.frontend import ast
from ppl.ir.graph import Graph


def statement_expressions(graph: Graph) -> Iterator[ast.Expr]:
    """The expressions of every statement of the graph (distribution arguments, definitions,
    ``target +=`` terms, bounds), not the bodies of user functions (their names are
    parameters)."""
    for node in graph.nodes:
        if node.factor is not None:
            yield node.factor.expr
        if node.symbol is None:
            continue
        if node.sample is not None:
            yield node.sample.dist
        if node.symbol.define is not None:
            yield node.symbol.define.expr
        bounds = node.declared_bounds
        if bounds is not None:
            yield from (e for e in (bounds.lower, bounds.upper) if e is not None)


def index_problems(graph: Graph, data: Mapping[str, np.ndarray],
                   shapes: Mapping[str, tuple[int, ...]]) -> list[Diagnostic]:
    """A diagnostic for each integer data array used as an index with a value outside the
    indexed quantity's range. ``shapes`` gives every model quantity's shape."""
    problems, seen = [], set()
    for expr in statement_expressions(graph):
        for sub in ast.walk(expr):
            if not isinstance(sub, ast.Index) or not isinstance(sub.base, ast.Name):
                continue
            if sub.base.id not in shapes:
                continue
            for name, size, item in _data_indices(sub, shapes[sub.base.id], data):
                problem = _out_of_range(name, sub.base.id, size, np.asarray(data[name]), item)
                if problem is not None and (name, sub.base.id) not in seen:
                    seen.add((name, sub.base.id))
                    problems.append(problem)
    return problems


def _data_indices(index: ast.Index, shape: tuple[int, ...], data):
    """(data name, size of the indexed axis, index expression) for each index of ``index``
    that is integer data (``g``) or an element of it (``g[n]``)."""
    dims = list(shape)
    axis = 0
    for item in index.indices:
        if axis >= len(dims):
            return
        if isinstance(item, ast.Slice):
            axis += 1
            continue
        name = _data_name(item, data)
        if name is None:
            return  # another kind of index: the axes after it are not followed
        yield name, dims[axis], item
        # An index with k dimensions replaces the axis by k axes (a scalar removes it).
        rank = np.ndim(data[name]) if isinstance(item, ast.Name) else 0
        dims[axis:axis + 1] = [0] * rank
        axis += rank


def _data_name(item, data) -> str | None:
    """``g`` for the index ``g`` or ``g[n]`` when ``g`` is integer data, else None."""
    target = item.base if isinstance(item, ast.Index) and isinstance(item.base, ast.Name) \
        else item
    if not isinstance(target, ast.Name) or target.id not in data:
        return None
    if isinstance(item, ast.Index) and not all(isinstance(i, ast.Name) for i in item.indices):
        return None  # g[3] or g[2:5]: a part of g, not checked here
    values = np.asarray(data[target.id])
    return target.id if values.dtype.kind in "iu" else None


def _out_of_range(name: str, base: str, size: int, values: np.ndarray,
                  item) -> Diagnostic | None:
    bad = (values < 1) | (values > size)
    if not np.any(bad):
        return None
    if values.ndim == 0:
        where = f"{name} is {int(values)}"
    else:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}[{', '.join(str(i + 1) for i in first)}] is {int(values[first])}"
    return error(f"data '{name}' indexes '{base}', whose indices run from 1 to {size}, but "
                 f"{where}",
                 item.span,
                 f"indices count from 1: recode '{name}' (0-based codes: add 1), or declare it "
                 f"with bounds (`in [1, {size}]`) to have it checked where it is read")
