"""Fits on disk: netCDF (``.nc``) and ppl's JSON format (``.json``), both read back by
:func:`load_fit`.

Writing is atomic: the file is written under a temporary name in the same folder and renamed
over the target only once complete, so an interrupted or failed write never leaves a partial
file (nor destroys an older one). :func:`check_output_path` finds a bad path before sampling.

The JSON format keeps every group of the DataTree::

    {"format": "ppl-fit", "version": 1, "attrs": {...},
     "groups": {"posterior": {"attrs": {...},
                              "coords": {"chain": {"dims": ["chain"], "dtype": "int64",
                                                   "shape": [2], "data": [1, 2]}, ...},
                              "variables": {"mu": {"dims": ["chain", "draw"],
                                                   "dtype": "float64", "shape": [2, 1000],
                                                   "data": [[...], [...]]},
                                            ...}},
                "sample_stats": {...}, ...}}

``data`` is the array as nested lists (chains, then draws, then the quantity's own
dimensions). It is strict JSON: NaN and infinities are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (in attributes too) and read back as numbers.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ppl.errors import DataError, error
from ppl.files import write_atomically
from ppl.source import Source

FORMAT = "ppl-fit"
VERSION = 1
SUFFIXES = (".nc", ".json")
# netCDF through h5netcdf (a dependency of ppl): xarray's default engine would be netCDF4 or
# scipy, which a fresh install lacks, and scipy's cannot write groups anyway.
ENGINE = "h5netcdf"
_SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _problem(path: Path, message: str, hint: str) -> DataError:
    return DataError([error(message, hint=hint)], Source("", str(path)))


def check_output_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a fit can be written there, else a
    :class:`~ppl.DataError` saying why: the suffix must be ``.nc`` or ``.json``, the folder must
    exist and be writable, and the path must not be a folder. Call it before a long run."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise _problem(path, "name the output file with the suffix .nc (netCDF) or .json",
                       "e.g. draws.nc, or draws.json for ppl's JSON format")
    folder = path.parent
    if not folder.exists():
        raise _problem(path, f"the folder '{folder}' does not exist",
                       "create the folder first, or write somewhere else")
    if not folder.is_dir():
        raise _problem(path, f"'{folder}' is not a folder", "give a path inside a folder")
    if path.is_dir():
        raise _problem(path, f"'{path}' is a folder", "give a file name inside it, e.g. "
                       f"{path / 'draws.nc'}")
    try:  # os.access says yes to root and knows nothing of read-only mounts: try it
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _problem(path, f"the folder '{folder}' is not writable: {exc.strerror}",
                       "choose a folder you can write to") from None
    return path


def save(fit: xr.DataTree, path: str | Path) -> None:
    """Write every group of ``fit`` to ``path``: netCDF (``.nc``) or ppl's JSON format
    (``.json``, see the module docstring), atomically. :func:`load_fit` reads either back."""
    path = check_output_path(path)
    if path.suffix.lower() == ".nc":
        _write_atomically(path, lambda target: fit.to_netcdf(target, engine=ENGINE))
    else:
        text = json.dumps(fit_to_json(fit), allow_nan=False)
        _write_atomically(path, lambda target: target.write_text(text))


def _write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """:func:`ppl.files.write_atomically`, a failure to write being the user's problem to fix
    (a full disk, a read-only folder)."""
    try:
        write_atomically(path, write)
    except OSError as exc:
        raise _problem(path, f"cannot write the output file: {exc.strerror or exc}",
                       "check the free disk space and the folder's permissions") from None


def load_fit(path: str | Path) -> xr.DataTree:
    """A fit written by ppl (``ppl run --output``, :func:`save`): ``.nc`` or ``.json``, read
    into memory (the file is closed). Problems are a :class:`~ppl.DataError`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _problem(path, f"cannot read a fit from a '{suffix}' file",
                       "ppl writes fits as .nc (netCDF) or .json")
    if not path.is_file():
        strerror = "Is a directory" if path.is_dir() else "No such file or directory"
        raise _problem(path, f"cannot read the fit file: {strerror}", "check the path")
    return _load_netcdf(path) if suffix == ".nc" else _load_json(path)


def _load_netcdf(path: Path) -> xr.DataTree:
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            return tree.load()  # into memory, before the file is closed
    except OSError as exc:
        if exc.strerror:  # the file could not be opened at all
            raise _problem(path, f"cannot read the fit file: {exc.strerror}",
                           "check the path and its permissions") from None
        raise _not_netcdf(path, exc) from None
    except ValueError as exc:
        raise _not_netcdf(path, exc) from None


def _not_netcdf(path: Path, exc: Exception) -> DataError:
    return _problem(path, f"the file is not a netCDF file that ppl can read ({exc})",
                    "give a file written by `ppl run --output` or ppl.summary.save")


def _load_json(path: Path) -> xr.DataTree:
    try:
        text = json.loads(path.read_text())
    except OSError as exc:
        raise _problem(path, f"cannot read the fit file: {exc.strerror}",
                       "check the path and its permissions") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _problem(path, f"the fit file is not valid JSON: {exc}",
                       "give a file written by `ppl run --output` or ppl.summary.save") from None
    return fit_from_json(text, path)


# ---------------------------------------------------------------------------- the JSON format


def fit_to_json(fit: xr.DataTree) -> dict[str, Any]:
    """The JSON-ready form of a fit (see the module docstring)."""
    groups = {}
    for node in fit.subtree:
        dataset = node.to_dataset(inherit=False)
        if node is fit and not dataset.variables:
            continue  # ppl's fits keep only attributes at the root: "attrs" holds them
        name = "/" if node is fit else node.relative_to(fit)
        groups[name] = {
            "attrs": _plain(dataset.attrs),
            "coords": {str(k): _variable(v) for k, v in dataset.coords.items()},
            "variables": {str(k): _variable(v) for k, v in dataset.data_vars.items()},
        }
    return {"format": FORMAT, "version": VERSION, "attrs": _plain(fit.attrs), "groups": groups}


def _variable(var: xr.DataArray) -> dict[str, Any]:
    values = np.asarray(var.values)
    if values.dtype.kind in "biuf":
        dtype = values.dtype.name
        data = _encode_numbers(values)
    else:  # labels: strings (or anything else, written as text)
        dtype = "str"
        data = values.astype(str).tolist()
    out = {"dims": [str(d) for d in var.dims], "dtype": dtype, "shape": list(values.shape),
           "data": data}
    if var.attrs:
        out["attrs"] = _plain(var.attrs)
    return out


def _encode_numbers(values: np.ndarray) -> Any:
    if values.dtype.kind != "f" or np.all(np.isfinite(values)):
        return values.tolist()
    encoded = values.astype(object)
    encoded[np.isnan(values)] = "NaN"
    encoded[np.isposinf(values)] = "Infinity"
    encoded[np.isneginf(values)] = "-Infinity"
    return encoded.tolist()


def _plain(value: Any) -> Any:
    """Attributes as JSON values: NumPy scalars and arrays as numbers and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return _SPECIAL.get(value, value) if isinstance(value, str) else value


def fit_from_json(text: Any, path: str | Path = "<json>") -> xr.DataTree:
    """The DataTree of a fit in ppl's JSON format (as :func:`fit_to_json` gives it)."""
    path = Path(path)
    hint = "give a file written by `ppl run --output` or ppl.summary.save"
    if not isinstance(text, dict) or text.get("format") != FORMAT:
        raise _problem(path, f'the file is not a fit written by ppl (no "format": "{FORMAT}")',
                       hint + "; ppl.summary.flat_draws gives the flat name -> draws form")
    if text.get("version") != VERSION:
        raise _problem(path, f"the fit file has format version {text.get('version')!r}; this "
                       f"ppl reads version {VERSION}", "read it with the ppl that wrote it")
    try:
        datasets = {name: _dataset(group) for name, group in text["groups"].items()}
        tree = xr.DataTree.from_dict(datasets)
        tree.attrs = _unplain(text.get("attrs", {}))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _problem(path, f"the fit file is malformed: {type(exc).__name__}: {exc}",
                       hint) from None
    return tree


def _dataset(group: Mapping[str, Any]) -> xr.Dataset:
    return xr.Dataset({k: _array(v) for k, v in group["variables"].items()},
                      coords={k: _array(v) for k, v in group.get("coords", {}).items()},
                      attrs=_unplain(group.get("attrs", {})))


def _array(var: Mapping[str, Any]) -> xr.Variable:
    # NumPy reads the strings "NaN", "Infinity" and "-Infinity" as floats by itself.
    values = np.asarray(var["data"], dtype=str if var["dtype"] == "str" else var["dtype"])
    # Nested lists lose the length of the axes after an empty one: the shape keeps them.
    values = values.reshape(var.get("shape", values.shape))
    return xr.Variable(list(var["dims"]), values, attrs=_unplain(var.get("attrs", {})))
