"""Data: reading JSON/CSV files, and validating values against the model's declarations.

Every problem is a :class:`DataError` that names the variable, what the declaration expects and
what was given, pointing at the declaration in the model file.
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ppl.errors import DataError, Diagnostic, error, read_text_file, warning
from ppl.frontend.symbols import CheckedModel
from ppl.frontend.types import Type
from ppl.source import Source


def read_data_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON object (name -> value) or a CSV file (one column per variable)."""
    path = Path(path)
    where = Source("", str(path))
    text = read_text_file(path, "the data file", "check the path given with --data")
    if path.suffix.lower() == ".csv":
        return _read_csv(text, where)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise DataError([error(f"the data file gives '{exc.args[0]}' twice",
                               hint="give each name once (JSON keeps only the last value)")],
                        where) from None
    except json.JSONDecodeError as exc:
        raise DataError([error(f"the data file is not valid JSON: {exc.msg} (line {exc.lineno}, "
                               f"column {exc.colno})", hint="fix the JSON syntax")],
                        where) from None
    except RecursionError:
        raise DataError([error("the data file's JSON is nested too deeply to read",
                               hint="data values are numbers, lists of numbers (a few levels "
                                    "for matrices and arrays), or lists of labels")],
                        where) from None
    if not isinstance(data, dict):
        raise DataError([error("the data file must hold a JSON object mapping names to values",
                               hint='write it as {"N": 3, "y": [1, 2, 3]}')], where)
    return data


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json keeps the last one silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _read_csv(text: str, where: Source) -> dict[str, Any]:
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DataError([error("the CSV file is empty", hint="give a header row of names")], where)
    header, body = rows[0], rows[1:]
    names = [name.strip() for name in header]
    for column, name in enumerate(names, start=1):
        if not name:
            raise DataError([error(f"the CSV header has an empty name (column {column})",
                                   hint="name every column in the header row")], where)
        if name in names[:column - 1]:
            raise DataError([error(f"the CSV header names '{name}' twice (columns "
                                   f"{names.index(name) + 1} and {column})",
                                   hint="give each column its own name")], where)
    columns: dict[str, list] = {name: [] for name in names}
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError([error(f"CSV row {number} has {len(row)} fields, the header has "
                                   f"{len(header)}", hint="every row needs one value per column")],
                            where)
        for name, cell in zip(columns, row):
            try:
                columns[name].append(float(cell))
            except ValueError:
                raise DataError([error(f"CSV row {number}, column '{name}': '{cell}' is not a "
                                       "number", hint="data values must be numeric")],
                                where) from None
    return {name: _maybe_int(np.asarray(v)) for name, v in columns.items()}


def _maybe_int(values: np.ndarray) -> np.ndarray:
    if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values


def as_mapping(data: Any) -> dict[str, Any]:
    """Accept a dict, or a pandas DataFrame (its columns), as data."""
    if data is None:
        return {}
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame
        return {str(c): data[c].to_numpy() for c in data.columns}
    if isinstance(data, Mapping):
        return {str(k): (v.to_numpy() if hasattr(v, "to_numpy") else v) for k, v in data.items()}
    raise DataError([error(f"data must be a dict or a pandas DataFrame, not {type(data).__name__}",
                           hint="pass data={'N': 10, 'y': [...]}")])


def _to_array(name: str, value: Any, span, source) -> np.ndarray:
    _refuse_booleans(name, value, span, source)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype == object or arr.dtype.kind not in "biuf":
        _refuse_ragged(name, value, span, source)
        raise DataError([error(f"data '{name}' is not a number or a rectangular array of numbers",
                               span, "check that every row has the same length and that all "
                               "entries are numbers")], source)
    return arr


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
        problem = _check_value(name, arr, sym.type)
        if problem:
            problems.append(error(problem[0], decl.name_span, problem[1]))
            continue
        out[name] = arr.astype(np.int64) if sym.type.elem == "int" else arr.astype(np.float64)
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
        return (f"data '{name}' holds NaN or infinite values{_first_bad(arr, ~np.isfinite(arr))}",
                "remove or impute missing values before fitting")
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
    if problems:
        raise DataError(problems, checked.source)


def warn_all(notes: list[Diagnostic], source: Source) -> None:
    """Issue the data's warnings (entries the model does not use) as :class:`ModelWarning`,
    already rendered with their place and severity."""
    from ppl.errors import ModelWarning, render, warn_user

    for note in notes:
        warn_user(render(note, source), ModelWarning)
