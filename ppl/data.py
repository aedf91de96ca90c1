"""Data: validating values against the model's declarations (files are read by
:mod:`ppl.datafiles`, labels turned into indices by :mod:`ppl.labels`).

Every problem is a :class:`DataError` that names the variable, what the declaration expects and
what was given, pointing at the declaration in the model file.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np

# read_data_file(s): the public names, kept here where callers found them before
from ppl.datafiles import column_values, read_data_file, read_data_files  # noqa: F401
from ppl.errors import DataError, Diagnostic, error, warning
from ppl.frontend import ast
from ppl.frontend.symbols import CheckedModel
from ppl.frontend.types import Type
from ppl.source import Source


def as_mapping(data: Any) -> dict[str, Any]:
    """Accept a dict, or a pandas DataFrame (its columns), as data."""
    if data is None:
        return {}
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame
        return {str(c): column_values(data[c]) for c in data.columns}
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    raise DataError([error(f"data must be a dict or a pandas DataFrame, not {type(data).__name__}",
                           hint="pass data={'N': 10, 'y': [...]}")])


def _plain(value: Any) -> Any:
    """A pandas Series as a file's column would be read (labels, NaN for missing values); a
    pandas Index or other array-like through its ``to_numpy``; anything else unchanged."""
    if hasattr(value, "dtype") and hasattr(value, "to_numpy") and hasattr(value, "index"):
        return column_values(value)
    return value.to_numpy() if hasattr(value, "to_numpy") else value


def _to_array(name: str, value: Any, span, source) -> np.ndarray:
    _refuse_booleans(name, value, span, source)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.dtype == object and _numbers_or_none(arr):
        # null (JSON), None or pandas' NA: a missing entry, NaN
        arr = np.asarray([np.nan if v is None or _is_na(v) else v for v in arr.ravel()],
                         np.float64).reshape(arr.shape)
    if arr is None or arr.dtype == object or arr.dtype.kind not in "biuf":
        _refuse_ragged(name, value, span, source)
        _refuse_text(name, arr, span, source)
        raise DataError([error(f"data '{name}' is not a number or a rectangular array of numbers",
                               span, "check that every row has the same length and that all "
                               "entries are numbers")], source)
    return arr


def _refuse_text(name: str, arr: np.ndarray | None, span, source) -> None:
    if arr is None or arr.dtype.kind not in "OUS":
        return
    text = [i for i, v in np.ndenumerate(arr) if isinstance(v, (str, np.str_))]
    if not text:
        return
    # NumPy turns [1, "x"] into ["1", "x"]: point at the first entry that is not a number.
    first = next((i for i in text if not _numeric_text(arr[i])), text[0])
    at = ", ".join(str(i + 1) for i in first)
    raise DataError([error(f"data '{name}' holds text, not numbers (the first is "
                           f"{str(arr[first])!r} at [{at}])", span,
                           "fix the values (one entry that is not a number makes a whole table "
                           "column text); a column of labels can be an index, declared "
                           "`int[N] in [1, G]` with `data G: dim`")], source)


def _numeric_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers_or_none(arr: np.ndarray) -> bool:
    """Whether an object array holds only numbers and missing entries (None, pandas' NA)."""
    return all(v is None or _is_na(v) or (isinstance(v, (int, float, np.integer, np.floating))
                                          and not isinstance(v, bool)) for v in arr.ravel())


def _is_na(value: Any) -> bool:
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' NA, without pandas


_PLAIN_NUMBERS = frozenset({int, float})  # not bool: type(True) is bool, not int


def first_boolean(value: Any) -> tuple[int, ...] | None:
    """The (0-based) index of the first true/false in ``value`` (a bool, a NumPy bool array or
    nested lists), ``()`` for a bool itself; None when it holds none. NumPy turns ``[1.0,
    True]`` into ``[1.0, 1.0]``, so lists are searched before they are converted."""
    if isinstance(value, (bool, np.bool_)):
        return ()
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return (0,) * value.ndim if value.size else None
        if value.dtype != object:
            return None
    if isinstance(value, (list, tuple, np.ndarray)):
        # a row of plain numbers (most of a JSON file's matrix) in one scan: a call per entry
        # took 0.8 s for a 20000 x 50 matrix
        if all(type(item) in _PLAIN_NUMBERS for item in value):
            return None
        for i, item in enumerate(value):
            found = first_boolean(item)
            if found is not None:
                return (i,) + found
    return None


def _refuse_booleans(name: str, value: Any, span, source) -> None:
    at = first_boolean(value)
    if at is None:
        return
    where = f" (the first at [{', '.join(str(i + 1) for i in at)}])" if at else ""
    raise DataError([error(f"data '{name}' holds true/false values{where}, which are not "
                           "numbers", span,
                           "give 0/1 as integers (in NumPy: values.astype(int)), and declare "
                           f"'{name}' as int")], source)


def ragged_row(value: Any) -> tuple[tuple[int, ...], int | None, int | None] | None:
    """Where nested lists stop being rectangular: ``(index, length, expected)`` of the first
    row (0-based index) whose length differs from its first sibling's, a length of None
    meaning a single number where a list was expected (or the other way); None when
    rectangular."""
    if not isinstance(value, (list, tuple)) or not value:
        return None

    def length(item):
        return len(item) if isinstance(item, (list, tuple, np.ndarray)) else None

    expected = length(value[0])
    for i, item in enumerate(value):
        if length(item) != expected:
            return (i,), length(item), expected
    for i, item in enumerate(value):
        found = ragged_row(list(item)) if expected is not None else None
        if found is not None:
            return (i,) + found[0], found[1], found[2]
    return None


def _refuse_ragged(name: str, value: Any, span, source) -> None:
    found = ragged_row(value)
    if found is None:
        return
    index, length, expected = found
    first = index[:-1] + (0,)

    def row(at):
        return f"row [{', '.join(str(i + 1) for i in at)}]"

    def has(n):
        if n is None:
            return "is a single number"
        return f"has {n} {'entry' if n == 1 else 'entries'}"

    raise DataError([error(f"data '{name}' is ragged: {row(index)} {has(length)} where "
                           f"{row(first)} {has(expected)}", span,
                           "give every row the same length (a rectangular array of numbers)")],
                    source)


def integer_sizes(checked_declarations: Mapping[str, Any], data: Mapping[str, Any],
                  source: Source) -> dict[str, int]:
    """Values of the scalar ``int`` data declarations, for sizes (validated first)."""
    sizes = dimension_sizes(checked_declarations, data, source)
    for name, decl in checked_declarations.items():
        if decl.type.kind != "int" or decl.type.dims or name not in data:
            continue
        arr = _to_array(name, data[name], decl.name_span, source)
        if arr.shape != () or not _integral(arr):
            raise DataError([error(f"data '{name}' must be a single integer, but it is "
                                   f"{_describe_value(arr)}", decl.name_span,
                                   f"supply '{name}' as a whole number")], source)
        sizes[name] = int(arr)
    return sizes


def infer_sizes(declarations: Mapping[str, Any], data: Mapping[str, Any],
                source: Source | None = None) -> dict[str, Any]:
    """The data with missing integer sizes filled in from the arrays declared with them: a
    DataFrame's columns give ``N`` without it being spelt out. Sizes stay missing when the
    arrays disagree (the shape error then says so). A ragged array that a size is read from is
    a :class:`DataError` at its declaration (in ``source``)."""
    from ppl.frontend import ast

    filled = dict(data)
    for name, decl in declarations.items():
        if decl.type.kind != "int" or decl.type.dims or name in data:
            continue
        lengths = set()
        for other in declarations.values():
            if other.name not in data or other.type.kind == "dim":
                continue
            if not any(isinstance(d, ast.Name) and d.id == name for d in other.type.axes):
                continue  # (its shape is not needed, and a ragged one is reported elsewhere)
            _refuse_ragged(other.name, data[other.name], other.name_span, source)
            shape = np.shape(data[other.name])
            for axis, dim in enumerate(other.type.axes):
                if isinstance(dim, ast.Name) and dim.id == name and axis < len(shape):
                    lengths.add(shape[axis])
        if len(lengths) == 1:
            filled[name] = lengths.pop()
    return filled


def dimension_sizes(declarations: Mapping[str, Any], data: Mapping[str, Any],
                    source: Source) -> dict[str, int]:
    """The size of each ``data NAME: dim``, without building its labels: a count can be far
    too large for a list, and the memory estimate, which needs the size, says so first."""
    sizes = {}
    for name, decl in declarations.items():
        if decl.type.kind != "dim" or name not in data:
            continue
        value = data[name]
        if _is_count(value):
            if value > np.iinfo(np.int64).max:
                raise DataError([error(f"data '{name}' is a dimension of {value} labels, more "
                                       f"than the largest size ({np.iinfo(np.int64).max})",
                                       decl.name_span, "check the count in the data")], source)
            sizes[name] = int(value)
        else:
            sizes[name] = len(dimension_labels({name: decl}, data, source)[name])
    return sizes


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def dimension_labels(declarations: Mapping[str, Any], data: Mapping[str, Any],
                     source: Source) -> dict[str, list]:
    """Coordinate labels of each ``data NAME: dim``: a list of distinct labels (strings or
    numbers) from the data, or a count n for the labels 1..n."""
    labels = {}
    for name, decl in declarations.items():
        if decl.type.kind != "dim" or name not in data:
            continue
        value = data[name]
        if _is_count(value):
            labels[name] = list(range(1, int(value) + 1))
            continue
        items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
        if items is None or any(np.ndim(v) for v in items) or len(set(map(str, items))) != \
                len(items):
            raise DataError([error(f"data '{name}' is a dimension: give a list of distinct "
                                   "labels (or a count)", decl.name_span,
                                   f'e.g. "{name}": ["a", "b", "c"]')], source)
        labels[name] = [v.item() if hasattr(v, "item") else v for v in items]
    return labels


def _integral(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "biu":
        return True
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def _describe_value(arr: np.ndarray) -> str:
    if arr.shape == ():
        return f"{arr.item()!r}"
    return f"an array of shape {arr.shape}"


def validate(checked: CheckedModel, data: Mapping[str, Any], *,
             allow_missing_data: bool = False
             ) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    """Check the data against the declarations; returns converted arrays and warnings.

    Every declared data entry must be supplied. With ``allow_missing_data``, data that has a
    distribution may be left out: it is then simulated (prior predictive simulation).
    """
    source = checked.source
    problems: list[Diagnostic] = []
    out: dict[str, np.ndarray] = {}
    declared = {s.name: s for s in checked.symbols.values() if s.data_decl is not None}
    unknown = sorted(set(data) - set(declared))
    modelled = sorted((checked.symbols[key] for key in unknown if key in checked.symbols),
                      key=lambda sym: (sym.span.line, sym.span.column))  # in source order
    problems += [not_declared_as_data(sym) for sym in modelled]
    unknown = [key for key in unknown if key not in checked.symbols]
    for name, sym in declared.items():
        decl = sym.data_decl
        if name not in data:
            simulable = sym.kind == "observable"
            # An observed definition (`y = ...` and `y ~ ...`) computes y: nothing to supply.
            if not (simulable and (allow_missing_data or sym.define is not None)):
                problems.append(missing_data(name, sym, unknown, simulable))
            continue
        if decl.type.kind == "dim":  # its value in the model is its size
            out[name] = np.asarray(dimension_sizes({name: decl}, data, source)[name])
            continue
        arr = _to_array(name, data[name], decl.name_span, source)
        gaps = np.isnan(arr) if arr.dtype.kind == "f" and sym.kind == "observable" \
            and sym.define is None else np.zeros(arr.shape, bool)
        problem = _check_value(name, np.where(gaps, 0.0, arr), sym.type)
        if problem is None and np.any(gaps):
            problem = _not_imputable(checked, sym, arr, gaps)
        if problem:
            problems.append(error(problem[0], problem[2] if len(problem) > 2 else
                                  decl.name_span, problem[1]))
            continue
        out[name] = arr.astype(np.int64) if sym.type.elem == "int" else arr.astype(np.float64)
        if np.any(gaps):  # imputed as parameters (ppl.codegen.missing)
            from ppl.codegen.missing import missing_key

            out[missing_key(name)] = np.argwhere(gaps).astype(np.int64)
    if problems:
        raise DataError(problems, source)
    notes = []
    if unknown:
        absent = [name for name in declared if name not in data]
        hints = [f"'{key}': did you mean '{near}'?" for key in unknown
                 if (near := closest_name(key, absent))]
        notes.append(warning(f"data entries not used by the model: {', '.join(unknown)}",
                             hint=" ".join(hints)))
    return out, notes


def not_declared_as_data(sym) -> Diagnostic:
    """The error for a data entry that names a quantity the model samples or computes: without a
    ``data`` declaration its value would be ignored, a silently wrong posterior."""
    declaration = f"`data {sym.name}: {sym.type.describe()}`"
    if sym.kind == "defined":
        hint = f"the model computes '{sym.name}'; leave it out of the data"
    elif sym.sample is not None:
        hint = (f"declare it, e.g. {declaration}, to make `{sym.name} ~ ...` a likelihood, or "
                f"leave '{sym.name}' out of the data")
    else:
        hint = f"declare it as data, {declaration}, or leave '{sym.name}' out of the data"
    return error(f"'{sym.name}' is in the data, but the model does not declare it as data: it "
                 f"would be {'computed' if sym.kind == 'defined' else 'sampled'} and the value "
                 "ignored", sym.span, hint)


def missing_data(name: str, sym, supplied: list[str], simulable: bool) -> Diagnostic:
    """The error for a declared data entry that the data leaves out, at its declaration, with
    the supplied key it was probably meant to be (``Y`` for ``y``) when there is one."""
    near = closest_name(name, supplied)
    if near:
        hint = f"the data has '{near}': did you mean '{name}'?"
    elif simulable:
        hint = (f"supply '{name}' in the data, or use sample_prior_predictive / "
                "`ppl run --prior` to simulate it")
    else:
        hint = f"supply '{name}' ({sym.type.describe()}) in the data"
    return error(f"data '{name}' is declared but not supplied", sym.data_decl.span, hint)


def closest_name(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be: the same but for case, else a close
    spelling (difflib's ratio of at least 0.6, compared without case); None if none is."""
    by_case = {c.lower(): c for c in reversed(candidates)}  # the first spelling wins
    close = difflib.get_close_matches(name.lower(), list(by_case), n=1)
    return by_case[close[0]] if close else None


def _check_value(name: str, arr: np.ndarray, t: Type) -> tuple[str, str] | None:
    expected = tuple(t.shape)
    if not all(isinstance(d, (int, np.integer)) for d in expected):
        return None  # a size is missing from the data, reported on its own
    if arr.shape != expected:
        sizes = ", ".join(f"{n}={d}" for n, d in zip(t.dim_names, expected) if n)
        return (f"data '{name}' should have shape {expected} ({t.describe()}"
                f"{'; ' + sizes if sizes else ''}), but it has shape {arr.shape}",
                "supply an array of the declared shape, or fix the sizes in the data")
    # Observed data reaches here with its missing entries filled in (they are imputed).
    if arr.dtype.kind == "f" and np.any(np.isnan(arr)):
        return (f"data '{name}' has missing entries{_first_bad(arr, np.isnan(arr))}; "
                "only data with a distribution (on the left of `~`) is imputed",
                f"fill in '{name}' or drop those rows; to impute it, give it a distribution "
                f"(`{name} ~ normal(...)`)")
    if t.elem == "int" and not _integral(arr):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        return (f"data '{name}' is declared int, but it holds non-integer values"
                f"{_first_bad(arr, bad)}", f"declare '{name}' as real, or supply whole numbers")
    if t.elem == "int" and arr.dtype.kind == "f":
        bad = np.abs(arr) >= 2.0 ** 63  # would wrap around when converted to int64
        if np.any(bad):
            return (f"data '{name}' holds integers beyond the 64-bit range"
                    f"{_first_bad(arr, bad)}", f"declare '{name}' as real, or rescale it")
    if not np.all(np.isfinite(arr)):
        return (f"data '{name}' holds infinite values{_first_bad(arr, ~np.isfinite(arr))}",
                "replace them with finite numbers")
    return None


def _not_imputable(checked: CheckedModel, sym, arr: np.ndarray, gaps: np.ndarray
                   ) -> tuple[str, str] | tuple[str, str, Any] | None:
    """Why the missing entries (NaN) of the observed ``sym`` cannot be imputed as parameters,
    as (message, hint[, span]); None when they can."""
    from ppl.library.distributions import DISTRIBUTIONS

    name = sym.name
    at = _first_bad(arr, gaps).replace("the first is nan at", "the first at")
    head = f"data '{name}' has missing entries{at}"
    drop = f"drop the rows where '{name}' is missing, or fill them in"
    spec = DISTRIBUTIONS[sym.sample.dist.func]
    if sym.type.elem == "int" and not spec.discrete:
        return (f"{head}, but it is declared int, so they cannot be imputed",
                f"declare '{name}' as real, or {drop}")
    if spec.discrete:
        return (f"{head}, but its distribution {spec.name} is discrete, so they cannot be "
                "imputed (sampled as parameters)", drop)
    if spec.event_rank:
        return (f"{head}, but {spec.name} is a multivariate distribution; missing entries are "
                "imputed only for distributions of independent elements", drop)
    if sym.sample.comprehension is not None:
        return (f"{head}, but its statement covers it element by element; missing entries "
                "are imputed only for a statement over the whole array",
                f"write `{name} ~ ...` for the whole array (vectorised), or {drop}",
                sym.sample.span)
    if name in sym.depends:
        return (f"{head}, but its distribution depends on '{name}' itself (a recursion); "
                "such entries cannot be imputed", drop, sym.sample.span)
    order = list(checked.symbols)
    for other in checked.symbols.values():
        # Computed before y is (its own prior depends on y's parameters): it would see NaN.
        if name in other.depends and (order.index(other.name) < order.index(name) or
                                      (other.kind == "defined" and other.data_only)):
            return (f"{head}, but '{other.name}' is computed from '{name}' before the missing "
                    "entries are imputed", f"compute '{other.name}' from the observed entries "
                    f"only (as data of its own), or {drop}", other.span)
    return None


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """' (the first is 2.5 at [2])': the first offending entry of an array, 1-based."""
    if arr.ndim == 0 or not np.any(bad):
        return ""
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return f" (the first is {arr[where].item()!r} at [{', '.join(str(i + 1) for i in where)}])"


def check_bounds(checked: CheckedModel, env: Mapping[str, Any]) -> None:
    """Check data values against their declared bounds (bounds may use other data)."""
    from ppl.codegen.evaluate import evaluate

    problems = []
    for sym in checked.symbols.values():
        decl = sym.data_decl
        if decl is None or decl.bounds is None or sym.name not in env:
            continue
        value = np.asarray(env[sym.name])
        b = decl.bounds
        for end, strict, side in ((b.lower, b.lower_strict, "lower"),
                                  (b.upper, b.upper_strict, "upper")):
            if end is None:
                continue
            limit = np.asarray(evaluate(end, env))
            if side == "lower":
                bad = value <= limit if strict else value < limit
            else:
                bad = value >= limit if strict else value > limit
            if np.any(bad):
                where = np.argwhere(np.atleast_1d(bad))[0]
                at = ", ".join(str(i + 1) for i in where)
                position = "" if value.ndim == 0 else f" at [{at}]"
                shown = np.atleast_1d(value)[tuple(where)] if value.ndim else value
                problems.append(error(
                    f"data '{sym.name}' violates its {side} bound: value {shown}{position}",
                    b.span, "fix the data or the declared bound"))
                break
    problems += [p for sym in checked.symbols.values()
                 if (p := _outside_truncation(sym, env)) is not None]
    if problems:
        raise DataError(problems, checked.source)


def _outside_truncation(sym, env: Mapping[str, Any]) -> Diagnostic | None:
    """Observed data outside the ends of its ``T[L, U]`` (those known from the data, for the
    whole array): the truncated distribution gives it no probability."""
    from ppl.codegen.evaluate import evaluate, map_over
    from ppl.frontend import pretty

    s = sym.sample
    if sym.data_decl is None or s is None or s.truncation is None or sym.name not in env:
        return None
    t, c = s.truncation, s.comprehension
    value, first = np.asarray(env[sym.name]), 0
    local = {c.var} if c is not None else set()
    if c is not None:  # y[n] ~ ... T[L[n], ] for n in lo:hi: the ends per element of the range
        if any(n.id not in env for e in (c.lo, c.hi) for n in ast.free_names(e)):
            return None
        first = int(evaluate(c.lo, env)) - 1
        value = value[first:int(evaluate(c.hi, env))]
    bad = np.zeros(value.shape, bool)
    for end, below in ((t.lower, True), (t.upper, False)):
        if end is None or any(n.id not in env and n.id not in local
                              for n in ast.free_names(end)):
            continue
        limit = np.asarray(evaluate(end, env) if c is None
                           else map_over(c, env, lambda scope, end=end: evaluate(end, scope)))
        bad |= (value < limit) if below else (value > limit)
    if not np.any(bad):
        return None
    where = np.argwhere(np.atleast_1d(bad))[0]
    where[0] += first if c is not None else 0
    position = "" if value.ndim == 0 else f" at [{', '.join(str(i + 1) for i in where)}]"
    shown = np.atleast_1d(value)[tuple(where)] if value.ndim else value
    return error(f"data '{sym.name}' lies outside its truncation "
                 f"{pretty.truncation(t).strip()}: value {shown}{position}", t.span,
                 "the truncated distribution gives it no probability: fix the data or the "
                 "truncation's ends")


def warn_all(notes: list[Diagnostic], source: Source) -> None:
    """Issue the data's warnings (entries the model does not use) as :class:`ModelWarning`,
    already rendered with their place and severity."""
    from ppl.errors import ModelWarning, render, warn_user

    for note in notes:
        warn_user(render(note, source), ModelWarning)
