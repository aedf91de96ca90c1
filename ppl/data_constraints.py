"""Data declared with a constrained type must be such a value.

``data theta: simplex[K]`` promises a simplex, and the model relies on it (a categorical
distribution of a vector that does not sum to 1 is not normalised); the same holds for
``ordered``, ``positive_ordered``, ``unit_vector``, ``cov_matrix``, ``corr_matrix``,
``cholesky_factor_cov`` and ``cholesky_factor_corr``. Each value (each element of an array of
them) is checked once the data is bound, with Stan's tolerance, 1e-8, where the constraint is
an equality (a sum, a length, a unit diagonal, symmetry); a failure names the data, the index
of the offending value in its array, the entry at fault and what it should be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ppl.errors import DataError, Diagnostic, error
from ppl.frontend.types import CONSTRAINED_TYPES

TOLERANCE = 1e-8


def _at(*index: int) -> str:
    return "[" + ", ".join(str(i + 1) for i in index) + "]"


def _shown(x: float) -> str:
    return f"{float(x):.10g}"


def _negative(v: np.ndarray) -> str | None:
    bad = np.flatnonzero(v < 0)
    if bad.size:
        return f"its element {_at(bad[0])} is {_shown(v[bad[0]])}, below 0"
    return None


def _simplex(v: np.ndarray) -> str | None:
    total = float(np.sum(v))
    return _negative(v) or (None if abs(total - 1) <= TOLERANCE else
                            f"its elements sum to {_shown(total)}, not 1 (within 1e-8)")


def _ordered(v: np.ndarray) -> str | None:
    bad = np.flatnonzero(np.diff(v) <= 0)
    if bad.size:
        k = bad[0] + 1
        return (f"its element {_at(k)} is {_shown(v[k])}, not above the element "
                f"{_at(k - 1)}, {_shown(v[k - 1])} (the elements must increase strictly)")
    return None


def _positive_ordered(v: np.ndarray) -> str | None:
    return _negative(v[:1]) or _ordered(v)


def _unit_vector(v: np.ndarray) -> str | None:
    square = float(np.sum(np.square(v)))
    return None if abs(square - 1) <= TOLERANCE else \
        f"its squared length is {_shown(square)}, not 1 (within 1e-8)"


def _symmetric(m: np.ndarray) -> str | None:
    bad = np.argwhere(np.abs(m - m.T) > TOLERANCE)
    if bad.size:
        i, j = bad[0]
        return (f"it is not symmetric: its entry {_at(i, j)} is {_shown(m[i, j])} but "
                f"{_at(j, i)} is {_shown(m[j, i])}")
    return None


def _positive_definite(m: np.ndarray) -> str | None:
    smallest = float(np.linalg.eigvalsh(m)[0]) if m.size else 1.0
    return None if smallest > 0 else \
        f"it is not positive definite (its smallest eigenvalue is {_shown(smallest)})"


def _cov_matrix(m: np.ndarray) -> str | None:
    return _symmetric(m) or _positive_definite(m)


def _corr_matrix(m: np.ndarray) -> str | None:
    bad = np.flatnonzero(np.abs(np.diag(m) - 1) > TOLERANCE)
    unit = None if not bad.size else \
        f"its diagonal entry {_at(bad[0], bad[0])} is {_shown(m[bad[0], bad[0]])}, not 1"
    return _symmetric(m) or unit or _positive_definite(m)


def _cholesky_factor_cov(m: np.ndarray) -> str | None:
    above = np.argwhere(np.triu(m, 1) != 0)
    if above.size:
        i, j = above[0]
        return (f"it is not lower triangular: its entry {_at(i, j)} is {_shown(m[i, j])}, "
                "not 0")
    bad = np.flatnonzero(np.diag(m) <= 0)
    if bad.size:
        return (f"its diagonal entry {_at(bad[0], bad[0])} is {_shown(m[bad[0], bad[0]])}, "
                "not above 0")
    return None


def _cholesky_factor_corr(m: np.ndarray) -> str | None:
    problem = _cholesky_factor_cov(m)
    if problem:
        return problem
    lengths = np.sum(np.square(m), axis=1)
    bad = np.flatnonzero(np.abs(lengths - 1) > TOLERANCE)
    return None if not bad.size else \
        (f"its row {bad[0] + 1} has squared length {_shown(lengths[bad[0]])}, not 1 (within "
         "1e-8)")


# type -> (the check of one value, what a value of the type is, for the hint)
_CHECKS: dict[str, tuple[Callable[[np.ndarray], str | None], str]] = {
    "simplex": (_simplex, "a simplex has elements >= 0 that sum to 1"),
    "ordered": (_ordered, "an ordered vector increases strictly"),
    "positive_ordered": (_positive_ordered,
                         "a positive_ordered vector is >= 0 and increases strictly"),
    "unit_vector": (_unit_vector, "a unit_vector has length 1"),
    "cov_matrix": (_cov_matrix, "a cov_matrix is symmetric and positive definite"),
    "corr_matrix": (_corr_matrix, "a corr_matrix is a cov_matrix with a unit diagonal"),
    "cholesky_factor_cov": (_cholesky_factor_cov, "a cholesky_factor_cov is lower triangular "
                            "with a positive diagonal"),
    "cholesky_factor_corr": (_cholesky_factor_corr, "a cholesky_factor_corr is a "
                             "cholesky_factor_cov whose rows have length 1"),
}


def constraint_problem(sym, value: Any) -> Diagnostic | None:
    """The error for the first value of the data ``sym`` (of a constrained type) that is not
    of its type; None when every one is (or the type is unconstrained). A value with missing
    entries is left to imputation."""
    decl = sym.data_decl
    kind = decl.type.kind
    if kind not in _CHECKS:
        return None
    check, meaning = _CHECKS[kind]
    arr = np.asarray(value, float)
    rank = CONSTRAINED_TYPES[kind][0]
    for index in np.ndindex(arr.shape[:arr.ndim - rank]):
        item = arr[index]
        if np.any(np.isnan(item)):
            continue
        problem = check(item)
        if problem:
            where = f"its value at {_at(*index)} is not one: " if index else ""
            return error(f"data '{sym.name}' is declared {kind}, but {where}{problem}",
                         decl.type.span,
                         f"{meaning}: fix the data, or declare '{sym.name}' with a plain type "
                         "(vector, matrix)")
    return None


def check_constrained_types(symbols, env: Mapping[str, Any], source) -> None:
    """Every datum of a constrained type is a value of it (a located error per datum)."""
    problems = [p for sym in symbols.values()
                if sym.data_decl is not None and sym.name in env
                and (p := constraint_problem(sym, env[sym.name])) is not None]
    if problems:
        raise DataError(problems, source)
