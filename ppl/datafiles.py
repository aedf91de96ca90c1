"""Reading data files: JSON objects, and tables (CSV, Parquet) through pandas.

A table gives one entry per column. Numbers stay numbers (a column of whole numbers is read
as integers); an empty cell, ``NA`` or ``NaN`` is a missing value (NaN, which the data's
validation reports at its index unless the model can use it); a column of text is a column of
labels (see :mod:`ppl.labels`: it can be an integer index whose labels name a ``dim``).
Columns the model does not use are only reported, never read as numbers. Several files are
merged (:func:`read_data_files`); a name that two of them give is an error naming both.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ppl.errors import DataError, error, read_text_file
from ppl.source import Source

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_data_files(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Every file's entries in one mapping; a name given by two files is a :class:`DataError`
    naming both (the first file's name is kept in the message's place)."""
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in map(Path, paths):
        for name, value in read_data_file(path).items():
            if name in merged:
                raise DataError([error(
                    f"data '{name}' is given by two data files, {origin[name]} and {path}",
                    hint=f"keep '{name}' in one of them (or rename one of the columns)")],
                    Source("", str(path)))
            merged[name] = value
            origin[name] = path
    return merged


def read_data_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON object (name -> value), or a CSV or Parquet table (one entry per column)."""
    path = Path(path)
    where = Source("", str(path))
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _columns(_read_parquet(path, where), where)
    text = read_text_file(path, "the data file", "check the path given with --data")
    if suffix == ".csv":
        return _columns(_read_csv(text, where), where)
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


def _read_csv(text: str, where: Source):
    import pandas as pd

    if not text.strip():
        raise DataError([error("the CSV file is empty", hint="give a header row of names")],
                        where)
    # The header as written: pandas would rename a repeated name ('y.1') or an empty one.
    header = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str,
                         keep_default_na=False).iloc[0].tolist()
    _check_header([name.strip() for name in header], where)
    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except pd.errors.ParserError as exc:
        detail = str(exc).split("C error: ")[-1].strip()  # without pandas' tokenizer prefix
        raise DataError([error(f"the CSV file cannot be read: {detail}",
                               hint="every row needs at most one value per column")],
                        where) from None
    return frame.rename(columns=lambda c: str(c).strip())


def _check_header(names: list[str], where: Source) -> None:
    for column, name in enumerate(names, start=1):
        if not name:
            raise DataError([error(f"the CSV header has an empty name (column {column})",
                                   hint="name every column in the header row")], where)
        if name in names[:column - 1]:
            raise DataError([error(f"the CSV header names '{name}' twice (columns "
                                   f"{names.index(name) + 1} and {column})",
                                   hint="give each column its own name")], where)


def _read_parquet(path: Path, where: Source):
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataError([error("reading a Parquet file needs the pyarrow package, which is not "
                               "installed", hint="install it with: pip install ppl[parquet]")],
                        where) from None
    except FileNotFoundError as exc:
        raise DataError([error(f"cannot read the data file: {exc.strerror}",
                               hint="check the path given with --data")], where) from None
    except (OSError, ValueError) as exc:
        raise DataError([error(f"the Parquet file cannot be read: {exc}",
                               hint="check that it is a Parquet file")], where) from None


def _columns(frame, where: Source) -> dict[str, Any]:
    """A table's columns as arrays: numbers (whole numbers as integers), or labels."""
    out = {}
    for name in frame.columns:
        if not isinstance(name, str) or not name:
            raise DataError([error(f"the table has a column without a name ({name!r})",
                                   hint="name every column")], where)
        out[name] = column_values(frame[name])
    return out


def column_values(series) -> np.ndarray:
    """A pandas column as a NumPy array: numbers as float or, when every value is a whole
    number, int64; missing values NaN; anything else an object array of labels (text), with
    NaN where a label is missing."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy()  # refused at validation, with its index
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    values = series.astype(object).to_numpy()
    return np.array([np.nan if _missing(v) else v for v in values], dtype=object)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
