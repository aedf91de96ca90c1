"""Data: from dicts, lists, numpy arrays, pandas DataFrames, CSV and JSON files; conversion to
the declared element types; entries the model does not use only warn."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import ppl
from ppl.data import as_mapping, read_data_file

REGRESSION = """
data N: int >= 1
data x: vector[N]
data y: vector[N]
data k: int[N] >= 0
a ~ normal(0, 1)
b ~ normal(0, 1)
y ~ normal(a + b * x, 1)
k ~ poisson_log(a)
"""
X = [0.0, 1.0, 2.0]
Y = [0.5, 1.4, 2.6]
K = [0, 2, 1]
EXPECTED = {"N": np.int64(3), "x": np.array(X), "y": np.array(Y), "k": np.array(K)}


@pytest.fixture(scope="module")
def model():
    return ppl.model(REGRESSION)


def _bound(model, data) -> dict[str, np.ndarray]:
    """The validated arrays, with their dtypes, for ``data``; no warnings allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, arrays, notes = model.bind(data)
    assert notes == []
    return arrays


def _assert_expected(arrays):
    assert set(arrays) == set(EXPECTED)
    for name, want in EXPECTED.items():
        np.testing.assert_allclose(arrays[name], want, rtol=1e-7)  # float32 input is rounded
    assert arrays["x"].dtype == np.float64 and arrays["y"].dtype == np.float64
    assert arrays["k"].dtype == np.int64 and arrays["N"].dtype == np.int64


@pytest.mark.parametrize("data", [
    {"N": 3, "x": X, "y": Y, "k": K},  # lists
    {"N": np.int32(3), "x": np.array(X), "y": np.array(Y, dtype=np.float32),
     "k": np.array(K, dtype=np.int16)},  # numpy, other widths
    {"N": 3, "x": (0, 1, 2), "y": Y, "k": [0.0, 2.0, 1.0]},  # ints for reals, whole floats
    {"N": np.array(3), "x": pd.Series(X), "y": pd.Series(Y), "k": pd.Series(K)},  # Series
], ids=["lists", "numpy", "converted", "series"])
def test_data_from_python_values(model, data):
    _assert_expected(_bound(model, data))


def test_data_from_a_dataframe():
    model = ppl.model("data x: vector[3]\ndata y: vector[3]\ndata k: int[3]\n"
                      "b ~ normal(0, 1)\ny ~ normal(b * x, 1)\nk ~ poisson_log(b)\n")
    frame = pd.DataFrame({"x": X, "y": Y, "k": K})
    assert set(as_mapping(frame)) == {"x", "y", "k"}
    arrays = _bound(model, frame)
    np.testing.assert_array_equal(arrays["y"], Y)
    assert arrays["k"].dtype == np.int64
    compiled = model.compile(frame)
    assert compiled.observed_names == ["y", "k"]


def test_data_from_a_dataframe_and_sizes(model):
    frame = pd.DataFrame({"x": X, "y": Y, "k": K})
    _assert_expected(_bound(model, {"N": len(frame), **as_mapping(frame)}))


def test_data_from_a_json_file(model, tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"N": 3, "x": X, "y": Y, "k": K}))
    data = read_data_file(path)
    _assert_expected(_bound(model, data))


def test_data_from_a_csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x,y,k\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(X, Y, K,
                                                                              strict=True)))
    data = read_data_file(path)
    assert set(data) == {"x", "y", "k"}
    assert data["k"].dtype == np.int64 and data["y"].dtype == np.float64
    np.testing.assert_array_equal(data["x"], X)  # whole numbers read as integers ...
    model = ppl.model("data x: vector[3]\ndata y: vector[3]\ndata k: int[3]\n"
                      "b ~ normal(0, 1)\ny ~ normal(b * x, 1)\nk ~ poisson_log(b)\n")
    assert _bound(model, data)["x"].dtype == np.float64  # ... and converted where real


def test_matrix_data_from_nested_lists():
    model = ppl.model("data N: int\ndata K: int\ndata X: matrix[N, K]\n"
                      "b: vector[K] ~ normal(0, 1)\ntarget += sum(X * b)\n")
    arrays = _bound(model, {"N": 2, "K": 3, "X": [[1, 2, 3], [4, 5, 6]]})
    assert arrays["X"].shape == (2, 3) and arrays["X"].dtype == np.float64
    with pytest.raises(ppl.DataError, match=r"should have shape \(2, 3\) \(matrix\[2, 3\]; "
                                            r"N=2, K=3\), but it has shape \(3, 2\)"):
        model.bind({"N": 2, "K": 3, "X": [[1, 2], [3, 4], [5, 6]]})


def test_unused_entries_only_warn(model):
    data = {"N": 3, "x": X, "y": Y, "k": K, "extra": [1, 2], "zz": 1}
    _, arrays, notes = model.bind(data)
    assert "extra" not in arrays
    assert [n.message for n in notes] == ["data entries not used by the model: extra, zz"]
    assert notes[0].severity == "warning"
    with pytest.warns(UserWarning, match="data entries not used by the model: extra, zz"):
        compiled = model.compile(data)
    assert "extra" not in compiled.data


def test_declared_data_must_be_supplied(model):
    """Left out, `y` and `k` would silently be simulated from the prior: an error instead."""
    for call in (model.bind, model.compile):
        with pytest.raises(ppl.DataError) as info:
            call({"N": 3, "x": X})
        assert [d.message for d in info.value.diagnostics] == [
            "data 'y' is declared but not supplied", "data 'k' is declared but not supplied"]
    y, _ = info.value.diagnostics
    assert (y.span.line, y.span.column, y.span.end_column) == (4, 1, 17)  # `data y: vector[N]`
    assert y.hint == ("supply 'y' in the data, or use sample_prior_predictive / `ppl run "
                      "--prior` to simulate it")
    assert str(info.value).startswith("<string>:4:1: error: data 'y' is declared but not "
                                      "supplied\n   4 | data y: vector[N]\n")


def test_sampling_checks_the_data_before_it_starts(model):
    with pytest.raises(ppl.DataError, match="data 'y' is declared but not supplied"):
        model.sample({"N": 3, "x": X, "k": K}, chains=1, draws=1, warmup=0)


def test_missing_observed_data_is_simulated_when_asked(model):
    _, arrays, _ = model.bind({"N": 3, "x": X}, allow_missing_data=True)
    assert set(arrays) == {"N", "x"}
    compiled = model.compile({"N": 3, "x": X}, allow_missing_data=True)
    assert set(compiled.latent_names) == {"a", "b", "y", "k"}  # simulated, not observed
    assert compiled.observed_names == []
    prior = model.sample_prior_predictive({"N": 3, "x": X}, draws=5)  # no option needed
    assert set(prior["prior_predictive"].data_vars) == {"y", "k"}


def test_missing_plain_data_is_an_error_even_when_simulating(model):
    with pytest.raises(ppl.DataError) as info:
        model.compile({"N": 3, "y": Y, "k": K}, allow_missing_data=True)
    (x,) = info.value.diagnostics
    assert x.message == "data 'x' is declared but not supplied"
    assert x.hint == "supply 'x' (vector[3]) in the data"


@pytest.mark.parametrize("given, missing, near", [
    ("Y", "y", "Y"),  # the case differs
    ("xx", "x", "xx"),  # a near miss
])
def test_a_near_miss_key_is_suggested(model, given, missing, near):
    data = {"N": 3, "x": X, "y": Y, "k": K}
    data[given] = data.pop(missing)
    with pytest.raises(ppl.DataError) as info:
        model.bind(data)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == f"data '{missing}' is declared but not supplied"
    assert diagnostic.hint == f"the data has '{near}': did you mean '{missing}'?"


def test_unknown_keys_near_a_declared_name_are_suggested(model):
    _, _, notes = model.bind({"N": 3, "x": X, "Y": Y, "kk": K, "zz": 1},
                             allow_missing_data=True)
    (note,) = notes
    assert note.message == "data entries not used by the model: Y, kk, zz"
    assert note.hint == "'Y': did you mean 'y'? 'kk': did you mean 'k'?"
    _, _, notes = model.bind({"N": 3, "x": X, "y": Y, "k": K, "kk": 1})
    assert notes[0].hint == ""  # `k` is supplied: nothing to suggest


def test_a_value_for_a_quantity_not_declared_as_data_is_an_error():
    """``y`` given in the data but not declared ``data``: sampling would treat it as a
    parameter and ignore the value, a silently wrong posterior. An error at its statement."""
    model = ppl.model("mu ~ normal(0, 1)\ny ~ normal(mu, 1)\ns = 2 * mu\n")
    with pytest.raises(ppl.DataError) as info:
        model.compile({"y": 1.0, "s": 0.5})
    y, s = info.value.diagnostics
    assert y.message == ("'y' is in the data, but the model does not declare it as data: it "
                         "would be sampled and the value ignored")
    assert (y.span.line, y.span.column) == (2, 1)
    assert y.hint == ("declare it, e.g. `data y: real`, to make `y ~ ...` a likelihood, or "
                      "leave 'y' out of the data")
    assert s.message.startswith("'s' is in the data, but the model does not declare it as data")
    assert (s.span.line, s.span.column) == (3, 1)
    assert str(info.value).startswith("<string>:2:1: error: 'y' is in the data")


def test_data_must_be_a_mapping(model):
    with pytest.raises(ppl.DataError, match="data must be a dict or a pandas DataFrame, not list"):
        model.bind([1, 2, 3])


def test_size_must_be_a_single_integer(model):
    with pytest.raises(ppl.DataError) as info:
        model.bind({"N": [3], "x": X, "y": Y, "k": K})
    assert info.value.diagnostics[0].message == (
        "data 'N' must be a single integer, but it is an array of shape (1,)")


def test_data_dependent_bounds():
    model = ppl.model("data G: int\ndata N: int\ndata g: int[N] in [1, G]\n"
                      "a: vector[G] ~ normal(0, 1)\ntarget += sum(a[g])\n")
    _bound(model, {"G": 2, "N": 3, "g": [1, 2, 2]})
    with pytest.raises(ppl.DataError) as info:
        model.bind({"G": 2, "N": 3, "g": [1, 3, 2]})
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "data 'g' violates its upper bound: value 3 at [2]"
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 16)  # `in [1, G]`


def test_several_data_problems_are_reported_together(model):
    with pytest.raises(ppl.DataError) as info:
        model.bind({"N": 3, "x": [1.0, 2.0], "k": [0.5, 1, 2]})
    assert [d.message for d in info.value.diagnostics] == [
        "data 'x' should have shape (3,) (vector[3]; N=3), but it has shape (2,)",
        "data 'y' is declared but not supplied",
        "data 'k' is declared int, but it holds non-integer values (the first is 0.5 at [1])",
    ]


@pytest.mark.parametrize("name, text, message", [
    ("list.json", "[1, 2]", "the data file must hold a JSON object mapping names to values"),
    ("ragged.csv", "a,b\n1,2\n3,4,5\n",
     "the CSV file cannot be read: Expected 2 fields in line 3, saw 3"),
    ("empty.csv", "", "the CSV file is empty"),
    ("blank.csv", "\n\n", "the CSV file is empty"),
])
def test_bad_data_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert info.value.diagnostics[0].message == message
    assert str(info.value).startswith(f"{path}: error: {message}\n  hint: ")


def test_missing_data_file(tmp_path):
    with pytest.raises(ppl.DataError, match="cannot read the data file: No such file"):
        read_data_file(tmp_path / "nothing.json")


def test_missing_discrete_data_cannot_be_sampled(model):
    """Left out, `k` would be a parameter; the prior can simulate it, NUTS cannot sample it."""
    compiled = model.compile({"N": 3, "x": X, "y": Y}, allow_missing_data=True)
    assert "k" in compiled.latent_names
    with pytest.raises(ppl.DataError) as info:
        model.sample({"N": 3, "x": X, "y": Y}, chains=1, draws=1, warmup=0,
                     allow_missing_data=True)
    assert [d.message for d in info.value.diagnostics] == [
        "data 'k' is missing; it has the discrete distribution poisson_log, so it cannot be "
        "left out and sampled as a parameter"]


def test_sizes_are_inferred_from_a_dataframes_columns():
    import pandas as pd

    model = ppl.model("data N: int\ndata x: vector[N]\ndata y: vector[N]\n"
                      "a ~ normal(0, 1)\ny ~ normal(a * x, 1)\n")
    compiled = model.compile(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 5.0]}))
    assert int(compiled.data["N"]) == 3
    with pytest.raises(ppl.DataError, match="data 'N' is declared but not supplied"):
        model.compile({"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]})  # the columns disagree


@pytest.mark.parametrize("header, message", [
    ("y,y,sigma", "the CSV header names 'y' twice (columns 1 and 2)"),
    ("y,,sigma", "the CSV header has an empty name (column 2)"),
])
def test_csv_headers_must_name_each_column_once(tmp_path, header, message):
    """`y,y,sigma` gave sigma the second y column and dropped the first: an error instead."""
    path = tmp_path / "d.csv"
    path.write_text(f"{header}\n1,2,3\n4,5,6\n")
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert info.value.diagnostics[0].message == message


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_a_data_file_that_is_not_utf8_is_a_clean_error(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    path.write_bytes(b'{"name": "caf\xe9"}' if suffix == ".json" else b"y\n1\n\xe9\n")
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert info.value.diagnostics[0].message.startswith("the data file is not UTF-8 text")
    assert "line" in info.value.diagnostics[0].message


def test_deeply_nested_json_is_a_clean_error(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"y": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert "nested too deeply" in info.value.diagnostics[0].message


def test_a_json_key_given_twice_is_an_error(tmp_path):
    """JSON objects keep the last of repeated keys: the first value would be lost silently."""
    path = tmp_path / "d.json"
    path.write_text('{"y": [1, 2], "N": 2, "y": [3, 4]}')
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert info.value.diagnostics[0].message == "the data file gives 'y' twice"


def test_an_integer_beyond_int64_is_a_data_error_at_its_declaration(model):
    data = {"N": 3, "x": X, "y": Y, "k": [1, 2, 1e19]}
    with pytest.raises(ppl.DataError) as info:
        model.bind(data)
    message = info.value.diagnostics[0].message
    assert message.startswith("data 'k' holds integers beyond the 64-bit range")
    assert "1e+19 at [3]" in message


# declared type, a value of it (at Stan's tolerance where the constraint is an equality), and
# values that are not, each with a word its error must contain
CONSTRAINED = {
    "simplex[3]": ([0.5, 0.3, 0.2 + 5e-9], [([0.5, 0.4, 0.2], "sum to 1.1"),
                                           ([1.1, -0.1, 0.0], "[2] is -0.1")]),
    "ordered[3]": ([-1.0, 0.0, 2.0], [([0.0, 0.0, 1.0], "increase strictly")]),
    "positive_ordered[3]": ([0.0, 0.5, 2.0], [([-0.1, 0.5, 2.0], "below 0"),
                                              ([0.1, 0.5, 0.5], "increase strictly")]),
    "unit_vector[2]": ([0.6, 0.8 + 1e-9], [([0.6, 0.7], "squared length")]),
    "cov_matrix[2]": ([[2.0, 0.5], [0.5 + 1e-9, 1.0]], [([[1.0, 0.3], [0.2, 1.0]], "symmetric"),
                                                       ([[1.0, 2.0], [2.0, 1.0]], "definite")]),
    "corr_matrix[2]": ([[1.0, 0.5], [0.5, 1.0]], [([[1.0, 0.2], [0.2, 1.5]], "diagonal"),
                                                  ([[1.0, 1.5], [1.5, 1.0]], "definite")]),
    "cholesky_factor_cov[2]": ([[1.0, 0.0], [0.4, 2.0]],
                               [([[1.0, 0.1], [0.4, 2.0]], "lower triangular"),
                                ([[1.0, 0.0], [0.4, -2.0]], "diagonal")]),
    "cholesky_factor_corr[2]": ([[1.0, 0.0], [0.6, 0.8]],
                                [([[1.0, 0.0], [0.6, 0.6]], "row 2"),
                                 ([[1.0, 0.0], [0.6, -0.8]], "diagonal")]),
}


@pytest.mark.parametrize("declared", sorted(CONSTRAINED))
def test_data_of_a_constrained_type_must_be_of_it(declared):
    """A value of the type binds (also as an array of them); each kind of violation is a
    located data error that names the data, the index in its array and the entry at fault."""
    good, bad = CONSTRAINED[declared]
    single = f"data v: {declared}\nmu ~ normal(0, 1)\ngenerated s = sum(v)\n"
    array = f"data v: {declared}[2]\nmu ~ normal(0, 1)\ngenerated s = sum(v[1])\n"
    ppl.model(single).compile({"v": good})
    ppl.model(array).compile({"v": [good, good]})
    for value, words in bad:
        with pytest.raises(ppl.DataError, match=r"data 'v' is declared") as info:
            ppl.model(single).compile({"v": value})
        assert words in str(info.value)
        with pytest.raises(ppl.DataError, match=r"its value at \[2\] is not one") as info:
            ppl.model(array).compile({"v": [good, value]})
        assert words in str(info.value) and "1:9" in str(info.value)
