"""Columns of labels as integer indices, and the ``dim`` they name.

A data entry declared ``int`` (an index, ``data g: int[N] in [1, group]``) may be given as
labels (text: a CSV or Parquet column of text, a pandas column of strings, a list of strings).
The labels are replaced by 1-based codes:

- when the index's upper bound is a declared ``dim`` (``in [1, group]`` with
  ``data group: dim``) and the data gives that dim's labels, code k is the k-th of those
  labels, and a label that is not one of them is an error naming the entry and the index;
- otherwise the codes follow the order in which the labels first appear (in the order the
  indices are declared, when several indices share the dim), and the dim, when there is one,
  gets these labels (without a dim, text that reads as numbers, "3", is left for validation to
  report rather than coded): its size is the number of distinct labels and the labels are its
  coordinates in the fit (``fit["posterior"]["alpha"].sel(group="b")``).

A missing label (an empty cell) becomes NaN, which the data's validation reports at its index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ppl.errors import DataError, error
from ppl.frontend import ast
from ppl.source import Source


def encode_labels(declarations: Mapping[str, Any], data: Mapping[str, Any],
                  source: Source | None) -> dict[str, Any]:
    """``data`` with every label column given for an ``int`` declaration replaced by its codes,
    and the labels of the dims those indices are bounded by filled in where the data does not
    give them."""
    from ppl.data import dimension_labels

    columns = {name: labels for name, decl in declarations.items()
               if name in data and decl.type.kind == "int" and decl.type.dims
               and (labels := label_column(data[name])) is not None
               and (bounding_dim(decl, declarations) is not None or not _numbers(labels))}
    if not columns:
        return dict(data)
    out = dict(data)
    inferred: dict[str, list] = {}  # dim -> labels in order of first appearance
    for name, labels in columns.items():
        dim = bounding_dim(declarations[name], declarations)
        if dim is not None and dim not in data:
            seen = inferred.setdefault(dim, [])
            seen.extend(v for v in dict.fromkeys(_present(labels)) if v not in seen)
    out.update(inferred)
    for name, labels in columns.items():
        dim = bounding_dim(declarations[name], declarations)
        if dim is None:
            known = list(dict.fromkeys(_present(labels)))
        else:
            known = dimension_labels({dim: declarations[dim]}, out, source)[dim]
        out[name] = _codes(name, labels, known, dim, declarations[name], source)
    return out


def label_column(value: Any) -> np.ndarray | None:
    """``value`` as an object array when it is a one-dimensional array of labels (text, with
    missing values NaN or None) holding at least one label; None otherwise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        return None
    arr = np.empty(len(value), dtype=object)
    for i, v in enumerate(value):
        arr[i] = v
    if arr.ndim != 1 or not len(arr):
        return None
    text = [isinstance(v, (str, np.str_)) for v in arr]
    if not any(text):
        return None
    if not all(t or _is_missing(v) for t, v in zip(text, arr)):
        return None  # numbers mixed with text: reported by validation as text
    return arr


def bounding_dim(decl, declarations: Mapping[str, Any]) -> str | None:
    """The ``dim`` an index is declared to point into: the upper bound ``group`` of
    ``int[N] in [1, group]`` (or ``<= group``) when ``group`` is declared ``data group: dim``."""
    upper = decl.bounds.upper if decl.bounds is not None else None
    if isinstance(upper, ast.Name) and upper.id in declarations \
            and declarations[upper.id].type.kind == "dim":
        return upper.id
    return None


def _numbers(labels: np.ndarray) -> bool:
    """Whether every label reads as a number ("3", "1.5"): without a dim to say what they
    label, such text is more likely numbers written as strings than labels, and coding it
    1, 2, ... would silently change the values (validation reports it as text instead)."""
    for label in _present(labels):
        try:
            float(label)
        except ValueError:
            return False
    return True


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _present(labels: np.ndarray) -> list:
    return [str(v) for v in labels if not _is_missing(v)]


def _codes(name: str, labels: np.ndarray, known: list, dim: str | None, decl,
           source: Source | None) -> np.ndarray:
    position = {str(label): k for k, label in enumerate(known, start=1)}
    codes = np.full(len(labels), np.nan)
    for i, label in enumerate(labels):
        if _is_missing(label):
            continue
        if str(label) not in position:
            shown = ", ".join(repr(str(v)) for v in known[:5]) + (", ..." if len(known) > 5
                                                                   else "")
            raise DataError([error(
                f"data '{name}' holds the label {str(label)!r} at [{i + 1}], which is not one "
                f"of the labels of '{dim}' ({shown})", decl.name_span,
                f"add {str(label)!r} to the labels given for '{dim}', or leave '{dim}' out of "
                f"the data to take its labels from '{name}'")], source)
        codes[i] = position[str(label)]
    return codes.astype(np.int64) if not np.isnan(codes).any() else codes
