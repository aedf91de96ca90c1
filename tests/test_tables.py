"""Tables as data (CSV and Parquet through pandas, DataFrames): missing cells, columns of labels
as indices naming a ``dim``, unused columns, several files merged; and the ``ppl run`` of
tutorial 05's lake model on its own CSV file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ppl
from ppl.cli import main
from ppl.data import read_data_file, read_data_files

ROOT = Path(__file__).resolve().parents[1]

GROUPED = """
data group: dim
data N: int
data g: int[N] in [1, group]
data y: vector[N]
alpha: vector[group] ~ normal(0, 5)
y ~ normal(alpha[g], 1)
"""


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_csv_columns_numbers_labels_and_missing_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("n,x,label,gap\n1,0.5,a,\n2,1.5,b,2.5\n3,2.0,,NA\n")
    data = read_data_file(path)
    assert data["n"].dtype == np.int64
    np.testing.assert_array_equal(data["x"], [0.5, 1.5, 2.0])
    assert data["label"][:2].tolist() == ["a", "b"] and np.isnan(data["label"][2])
    assert np.isnan(data["gap"][0]) and data["gap"][1] == 2.5 and np.isnan(data["gap"][2])


def test_a_short_row_is_missing_values_at_its_end(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3\n")
    data = read_data_file(path)
    assert data["a"].tolist() == [1, 3] and np.isnan(data["b"][1])


def test_labels_become_codes_in_order_of_first_appearance_and_coordinates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("g,y,note\nb,1.0,x\na,2.0,y\nb,1.5,z\nc,0.0,w\n")
    model = ppl.model(GROUPED)
    compiled = _quiet(model.compile, read_data_file(path))
    np.testing.assert_array_equal(compiled.data["g"], [1, 2, 1, 3])
    assert compiled.coords["group"] == ["b", "a", "c"]
    fit = _quiet(model.sample, read_data_file(path), chains=1, draws=20, warmup=20)
    assert fit["posterior"]["alpha"].coords["group"].values.tolist() == ["b", "a", "c"]
    np.testing.assert_array_equal(fit["constant_data"]["g"], [1, 2, 1, 3])


def test_labels_follow_the_dims_labels_when_the_data_gives_them():
    model = ppl.model(GROUPED)
    compiled = _quiet(model.compile, {"group": ["c", "b", "a"], "g": ["a", "b", "a"],
                                      "y": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(compiled.data["g"], [3, 2, 3])
    assert compiled.coords["group"] == ["c", "b", "a"]


def test_a_dataframes_string_column_behaves_as_a_csv_column(tmp_path):
    model = ppl.model(GROUPED)
    frame = pd.DataFrame({"g": pd.Series(["b", "a", "b"], dtype="string"),
                          "y": [1.0, 2.0, 3.0]})
    from_frame = _quiet(model.compile, frame)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    from_file = _quiet(model.compile, read_data_file(path))
    for compiled in (from_frame, from_file):
        np.testing.assert_array_equal(compiled.data["g"], [1, 2, 1])
        assert compiled.coords["group"] == ["b", "a"]


def test_a_missing_label_is_a_missing_value_at_its_index():
    model = ppl.model(GROUPED, name="grouped.ppl")
    with pytest.raises(ppl.DataError) as info:
        _quiet(model.compile, pd.DataFrame({"g": ["a", None, "b"], "y": [1.0, 2.0, 3.0]}))
    assert [d.message for d in info.value.diagnostics] == [
        "data 'g' has missing entries (the first is nan at [2]); only data with a "
        "distribution (on the left of `~`) is imputed"]


def test_an_index_without_a_dim_gets_codes_in_order_of_first_appearance():
    model = ppl.model("data N: int\ndata K: int\ndata g: int[N] in [1, K]\ndata y: vector[N]\n"
                      "a: vector[K] ~ normal(0, 1)\ny ~ normal(a[g], 1)\n")
    compiled = _quiet(model.compile, {"K": 2, "g": ["x", "y", "x"], "y": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(compiled.data["g"], [1, 2, 1])


def test_several_files_merge_and_a_name_in_two_is_an_error(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("y\n1.0\n2.0\n")
    sizes = tmp_path / "s.json"
    sizes.write_text(json.dumps({"N": 2}))
    assert set(read_data_files([table, sizes])) == {"y", "N"}
    again = tmp_path / "again.json"
    again.write_text(json.dumps({"y": [3.0, 4.0]}))
    with pytest.raises(ppl.DataError) as info:
        read_data_files([table, sizes, again])
    assert str(info.value) == (
        f"{again}: error: data 'y' is given by two data files, {table} and {again}\n"
        "  hint: keep 'y' in one of them (or rename one of the columns)")


def test_parquet_is_read_like_csv(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "d.parquet"
    pd.DataFrame({"g": ["b", "a", None], "y": [1.0, np.nan, 3.0], "n": [1, 2, 3]}).to_parquet(path)
    data = read_data_file(path)
    assert data["g"][:2].tolist() == ["b", "a"] and np.isnan(data["g"][2])
    assert np.isnan(data["y"][1]) and data["n"].dtype == np.int64


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(ppl.DataError) as info:
        read_data_file(path)
    assert info.value.diagnostics[0].hint == "install it with: pip install ppl[parquet]"


def test_ppl_run_the_lake_model_on_tutorial_05s_csv(tmp_path, capsys):
    """lake_levels.csv has a text column (`month`, 2013-01, ...) the model does not use."""
    model = (ROOT / "tutorials" / "models" / "lake_ar.ppl").read_text()
    path = tmp_path / "lake_ar.ppl"
    path.write_text(model.replace("data y:", "data level_cm:").replace("y[", "level_cm["))
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"K": 2}))
    csv = str(ROOT / "tutorials" / "data" / "lake_levels.csv")
    code = main(["run", str(path), "--data", csv, "--data", str(order), "--chains", "1",
                 "--draws", "50", "--warmup", "50", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "persistence" in captured.out and "alpha" in captured.out
    assert "data entries not used by the model: month" in captured.err


def test_the_language_references_table_of_labels(tmp_path):
    """docs/language.md, Named dimensions: a column of county names and a count of rows."""
    model = ppl.model("data county: dim\ndata obs: dim\ndata county_of: int[obs] in [1, county]\n"
                      "data y: vector[obs]\nalpha: vector[county] ~ normal(0, 5)\n"
                      "sigma ~ half_normal(1)\ny ~ normal(alpha[county_of], sigma)\n")
    table = tmp_path / "table.csv"
    table.write_text("county_of,y\nAitkin,0.8\nAnoka,1.1\nAitkin,0.6\n")
    rows = tmp_path / "obs.json"
    rows.write_text(json.dumps({"obs": 3}))
    compiled = _quiet(model.compile, read_data_files([table, rows]))
    assert compiled.coords["county"] == ["Aitkin", "Anoka"]
    np.testing.assert_array_equal(compiled.data["county_of"], [1, 2, 1])


@pytest.mark.parametrize("suffix", [".nc", ".json"])
def test_labels_and_data_groups_survive_a_saved_fit(tmp_path, suffix):
    from ppl.summary import save

    model = ppl.model(GROUPED)
    frame = pd.DataFrame({"g": ["b", "a", "b", "c"], "y": [1.0, 2.0, 1.5, 0.0]})
    fit = _quiet(model.sample, frame, chains=1, draws=10, warmup=10)
    save(fit, tmp_path / f"fit{suffix}")
    back = ppl.load_fit(tmp_path / f"fit{suffix}")
    assert back["posterior"]["alpha"].coords["group"].values.tolist() == ["b", "a", "c"]
    np.testing.assert_array_equal(back["constant_data"]["g"], [1, 2, 1, 3])
    np.testing.assert_array_equal(back["observed_data"]["y"], frame["y"])


def test_numbers_written_as_text_are_not_silently_coded():
    """Without a dim, ["3", "1"] would become the codes [1, 2]: it is reported as text."""
    model = ppl.model("data N: int\ndata k: int[N]\nmu ~ normal(0, 1)\nk ~ poisson(exp(mu))\n",
                      name="counts.ppl")
    with pytest.raises(ppl.DataError) as info:
        _quiet(model.compile, {"k": ["3", "1"]})
    assert info.value.diagnostics[0].message == \
        "data 'k' holds text, not numbers (the first is '3' at [1])"
