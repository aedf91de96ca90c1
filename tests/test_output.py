"""Saving fits: netCDF (through h5netcdf, so a fresh install can write it) and a JSON format
that keeps every group, both read back by ``ppl.load_fit``; files are written atomically; the
output path is checked before any sampling (``check_output_path``)."""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from arviz_base import from_dict

import ppl
from ppl.summary import check_output_path, flat_draws, save

ROOT = Path(__file__).resolve().parents[1]


def _fit() -> xr.DataTree:
    """A fit as ppl makes it, without sampling: several groups, string labels, booleans,
    integers, non-finite values and root attributes."""
    rng = np.random.default_rng(0)
    lp = rng.normal(size=(2, 5))
    lp[0, 1], lp[1, 2], lp[1, 3] = np.nan, np.inf, -np.inf
    return from_dict({
        "posterior": {"mu": rng.normal(size=(2, 5)), "theta": rng.normal(size=(2, 5, 3))},
        "posterior_predictive": {"y": rng.normal(size=(2, 5, 3))},
        "log_likelihood": {"y": rng.normal(size=(2, 5, 3))},
        "sample_stats": {"diverging": rng.random((2, 5)) < 0.3,
                         "tree_depth": rng.integers(1, 5, (2, 5)), "lp": lp},
        "observed_data": {"y": np.array([1.0, 2.0, 3.0])},
    }, dims={"theta": ["school"], "y": ["school"]}, coords={"school": ["a", "b", "c"]},
        attrs={"/": {"inference_library": "ppl", "backend": "nuts", "target_accept": 0.8,
                     "dense_mass": 1, "path_elbo": [1.5, -2.0], "pareto_k": float("nan")}},
        index_origin=1)


def _assert_same(loaded: xr.DataTree, fit: xr.DataTree) -> None:
    assert set(loaded.children) == set(fit.children)
    for group in fit.children:
        want, got = fit[group], loaded[group]
        assert set(got.data_vars) == set(want.data_vars), group
        for name, var in want.data_vars.items():
            assert got[name].dims == var.dims, (group, name)
            assert got[name].dtype == var.dtype, (group, name)
            np.testing.assert_array_equal(got[name].values, var.values)  # NaN equals NaN
        for name, coord in want.coords.items():
            np.testing.assert_array_equal(got[name].values, coord.values)
    assert set(loaded.attrs) == set(fit.attrs)
    for key, value in fit.attrs.items():
        np.testing.assert_array_equal(np.asarray(loaded.attrs[key]), np.asarray(value))


@pytest.mark.parametrize("suffix", [".nc", ".json"])
def test_every_group_round_trips(tmp_path, suffix):
    fit = _fit()
    path = tmp_path / f"fit{suffix}"
    save(fit, path)
    loaded = ppl.load_fit(path)
    _assert_same(loaded, fit)
    assert flat_draws(loaded) == flat_draws(fit)
    assert list(loaded["posterior"]["school"].values) == ["a", "b", "c"]


def test_the_json_format(tmp_path):
    path = tmp_path / "fit.json"
    save(_fit(), path)

    def strict(constant):
        raise AssertionError(f"{constant} is not JSON")

    text = json.loads(path.read_text(), parse_constant=strict)  # no NaN or Infinity literals
    assert (text["format"], text["version"]) == ("ppl-fit", 1)
    assert text["attrs"]["backend"] == "nuts" and text["attrs"]["pareto_k"] == "NaN"
    assert set(text["groups"]) == {"posterior", "posterior_predictive", "log_likelihood",
                                   "sample_stats", "observed_data"}
    theta = text["groups"]["posterior"]["variables"]["theta"]
    assert theta["dims"] == ["chain", "draw", "school"] and theta["dtype"] == "float64"
    assert np.shape(theta["data"]) == (2, 5, 3)
    lp = text["groups"]["sample_stats"]["variables"]["lp"]["data"]
    assert (lp[0][1], lp[1][2], lp[1][3]) == ("NaN", "Infinity", "-Infinity")
    assert text["groups"]["posterior"]["coords"]["school"]["data"] == ["a", "b", "c"]


def test_netcdf_needs_no_netcdf4_or_scipy(tmp_path, monkeypatch):
    """A fresh install has neither netCDF4 nor scipy: h5netcdf writes and reads the file."""
    monkeypatch.setitem(sys.modules, "netCDF4", None)  # importing them now fails
    monkeypatch.setitem(sys.modules, "scipy", None)
    path = tmp_path / "fit.nc"
    save(_fit(), path)
    assert path.read_bytes()[:4] == b"\x89HDF"
    _assert_same(ppl.load_fit(path), _fit())


def test_h5netcdf_is_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("<")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert {"h5netcdf", "h5py"} <= names


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fd) for fd in fds.iterdir()} if fds.is_dir() else set()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_loaded_file_is_closed(tmp_path):
    path = tmp_path / "fit.nc"
    save(_fit(), path)
    loaded = ppl.load_fit(path)
    assert str(path.resolve()) not in _open_files()
    path.unlink()  # the data stay readable: they were read into memory
    _assert_same(loaded, _fit())


@pytest.mark.parametrize("suffix", [".nc", ".json"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch,
                                                                   suffix):
    path = tmp_path / f"fit{suffix}"
    path.write_text("old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ppl.DataError, match="cannot write the output file: No space left"):
        save(_fit(), path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_writer_failing_half_way_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "fit.nc"

    def half_written(self, target, *args, **kwargs):
        Path(target).write_bytes(b"\x89HDF partial")
        raise RuntimeError("the writer broke")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", half_written)
    with pytest.raises(RuntimeError, match="the writer broke"):
        save(_fit(), path)
    assert list(tmp_path.iterdir()) == []


def test_a_written_file_has_the_usual_permissions(tmp_path):
    """Not the owner-only mode of a temporary file."""
    path = tmp_path / "fit.json"
    save(_fit(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_check_output_path_accepts_a_writable_place(tmp_path):
    assert check_output_path(tmp_path / "fit.nc") == tmp_path / "fit.nc"
    assert check_output_path(str(tmp_path / "fit.JSON")) == tmp_path / "fit.JSON"
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


@pytest.mark.parametrize("name, message", [
    ("fit.csv", "name the output file with the suffix .nc (netCDF) or .json"),
    ("fit", "name the output file with the suffix .nc (netCDF) or .json"),
    ("missing/fit.nc", "the folder '{tmp}/missing' does not exist"),
    ("a_file/fit.nc", "'{tmp}/a_file' is not a folder"),
    ("a_folder.nc", "'{tmp}/a_folder.nc' is a folder"),
])
def test_check_output_path_rejects(tmp_path, name, message):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder.nc").mkdir()
    with pytest.raises(ppl.DataError) as info:
        check_output_path(tmp_path / name)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == message.format(tmp=tmp_path)
    assert diagnostic.hint
    assert str(info.value).startswith(f"{tmp_path / name}: error: ")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into any folder")
def test_check_output_path_rejects_a_read_only_folder(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ppl.DataError, match="is not writable"):
            check_output_path(folder / "fit.nc")
    finally:
        folder.chmod(0o700)


def test_save_checks_the_path_too(tmp_path):
    with pytest.raises(ppl.DataError, match="suffix .nc"):
        save(_fit(), tmp_path / "fit.txt")


@pytest.mark.parametrize("name, content, message", [
    ("missing.nc", None, "cannot read the fit file: No such file or directory"),
    ("missing.json", None, "cannot read the fit file: No such file or directory"),
    ("text.nc", "not netCDF", "the file is not a netCDF file that ppl can read"),
    ("bad.json", "{", "the fit file is not valid JSON"),
    ("flat.json", '{"mu": [[1.0, 2.0]]}', "the file is not a fit written by ppl"),
    ("future.json", '{"format": "ppl-fit", "version": 99, "groups": {}}',
     "the fit file has format version 99"),
    ("broken.json", '{"format": "ppl-fit", "version": 1, "groups": {"posterior": 3}}',
     "the fit file is malformed"),
    ("fit.csv", "", "cannot read a fit from a '.csv' file"),
])
def test_load_fit_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ppl.DataError) as info:
        ppl.load_fit(path)
    assert info.value.diagnostics[0].message.startswith(message)
    assert info.value.diagnostics[0].hint
    assert str(info.value).startswith(f"{path}: error: {message}")
