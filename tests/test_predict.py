"""Predictions for new data from an existing fit (``Model.predict``, ``ppl predict``)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import ppl
from ppl.cli import main

REGRESSION = """
data N: int
data x: real[N]
data y: real[N]
a ~ normal(0, 5)
b ~ normal(0, 5)
sigma ~ half_normal(2)
mu = a + b * x
y ~ normal(mu, sigma)
"""

HIERARCHICAL = """
data N: int
data J: int
data group: int[N] in [1, J]
data y: real[N]
theta: vector[J] ~ normal(0, 1)
y ~ normal(theta[group], 1)
"""

RNG = np.random.default_rng(0)
X = RNG.normal(size=20)
Y = 1 + 2 * X + RNG.normal(0, 0.5, 20)
X_NEW = np.asarray([-1.0, 0.0, 0.5, 2.0, 3.0])


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def model():
    return ppl.model(REGRESSION)


@pytest.fixture(scope="module")
def fit(model):
    return _quiet(model.sample, {"x": X, "y": Y}, chains=2, draws=500, warmup=300, seed=3)


@pytest.fixture(scope="module")
def predictions(model, fit):
    return model.predict(fit, {"x": X_NEW}, seed=1)


def test_the_fit_records_its_constant_data(fit):
    np.testing.assert_array_equal(fit.constant_data["x"].values, X)
    assert fit.constant_data["x"].dims == ("N",)
    assert "y" not in fit.constant_data  # observed: in observed_data


def test_the_predicted_mean_is_the_posterior_line_draw_by_draw(fit, predictions):
    assert set(predictions.children) == {"predictions", "predictions_constant_data"}
    posterior = fit.posterior
    expected = (posterior["a"].values[..., None]
                + posterior["b"].values[..., None] * X_NEW)
    np.testing.assert_allclose(predictions.predictions["mu"].values, expected, rtol=1e-12)
    np.testing.assert_array_equal(predictions.predictions_constant_data["x"].values, X_NEW)
    assert predictions.predictions["y"].dims == ("chain", "draw", "N")
    assert predictions.predictions["y"].shape == (2, 500, len(X_NEW))


def test_the_predictive_spread_includes_sigma(fit, predictions):
    draws = predictions.predictions
    residual = (draws["y"] - draws["mu"]).values / fit.posterior["sigma"].values[..., None]
    # y = mu + sigma * e with e standard normal, independent of the parameters
    n = residual.size
    assert abs(residual.mean()) < 4.5 / np.sqrt(n)
    assert abs(residual.std() - 1) < 4.5 / np.sqrt(2 * n)
    sd = draws["y"].std(("chain", "draw")).values
    assert np.all(sd > fit.posterior["sigma"].mean().item() * 0.9)


def test_predictions_are_reproducible_and_seeded(model, fit, predictions):
    again = model.predict(fit, {"x": X_NEW}, seed=1)
    np.testing.assert_array_equal(again.predictions["y"], predictions.predictions["y"])
    other = model.predict(fit, {"x": X_NEW}, seed=2)
    assert not np.array_equal(other.predictions["y"], predictions.predictions["y"])


def test_in_sample_posterior_predictive_from_the_stored_data(model, fit):
    replicate = model.predict(fit, predictions=False)
    assert set(replicate.children) == {"posterior_predictive", "constant_data"}
    assert replicate.posterior_predictive["y"].shape == (2, 500, 20)


def test_a_covariate_missing_from_data_and_fit_is_a_located_error(model, fit):
    bare = fit.copy()
    del bare["constant_data"]
    with pytest.raises(ppl.DataError) as info:
        model.predict(bare, {"N": 3})
    assert "data 'x' is declared but not supplied" in str(info.value)
    assert info.value.diagnostics[0].span.line == 3


def test_a_wrong_shape_is_a_located_error(model, fit):
    with pytest.raises(ppl.DataError) as info:
        model.predict(fit, {"N": 4, "x": X_NEW})
    assert "data 'x' should have shape (4,)" in str(info.value)


def test_a_changed_parameter_size_is_a_located_error():
    model = ppl.model(HIERARCHICAL)
    data = {"J": 3, "group": [1, 2, 3, 1, 2, 3], "y": [0.1, 0.5, -0.3, 0.2, 0.4, -0.1]}
    fit = _quiet(model.sample, data, chains=1, draws=50, warmup=50)
    same = model.predict(fit, {"group": [3, 3]})  # new units of the fitted groups
    np.testing.assert_allclose(same.predictions["y"].mean(), fit.posterior["theta"][..., 2].mean(),
                               atol=0.5)
    with pytest.raises(ppl.DataError) as info:
        model.predict(fit, {"J": 4, "group": [4, 4]})
    message = str(info.value)
    assert "'theta' has shape (3,) in the fit but (4,) with the new data (J = 4)" in message
    assert ":6:1:" in message or ":6:" in message


def test_a_model_with_another_parameter_is_a_located_error(fit):
    other = ppl.model(REGRESSION.replace("sigma ~ half_normal(2)", "tau ~ half_normal(2)\n"
                                         "sigma = tau"))
    with pytest.raises(ppl.DataError) as info:
        other.predict(fit, {"x": X_NEW})
    assert "the fit has no draws of 'tau'" in str(info.value)


def test_cli_round_trip(tmp_path, fit, capsys):
    model_file = tmp_path / "model.ppl"
    model_file.write_text(REGRESSION)
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"x": X.tolist(), "y": Y.tolist()}))
    fit_file = tmp_path / "fit.nc"
    assert main(["run", str(model_file), "--data", str(data), "--chains", "2", "--draws",
                 "100", "--warmup", "100", "--no-progress", "--output", str(fit_file)]) == 0
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"x": X_NEW.tolist()}))
    for suffix in (".nc", ".json"):
        output = tmp_path / f"pred{suffix}"
        capsys.readouterr()
        assert main(["predict", str(model_file), "--fit", str(fit_file), "--data", str(new),
                     "--output", str(output)]) == 0
        printed = capsys.readouterr().out
        assert "predictions" in printed and "y[5]" in printed
        loaded = ppl.load_fit(output)
        saved = ppl.load_fit(fit_file)
        expected = saved.posterior["a"].values[..., None] + \
            saved.posterior["b"].values[..., None] * X_NEW
        np.testing.assert_allclose(loaded.predictions["mu"].values, expected, rtol=1e-12)


def test_cli_predict_without_the_fit_file_is_an_error(tmp_path, capsys):
    model_file = tmp_path / "model.ppl"
    model_file.write_text(REGRESSION)
    assert main(["predict", str(model_file), "--fit", str(tmp_path / "none.nc")]) == 1
    assert "cannot read the fit file" in capsys.readouterr().err


def test_new_data_of_the_same_shapes_reuses_the_prediction_program(model, fit):
    model.predict(fit, {"x": X_NEW})
    before = len(model._programs)
    again = model.predict(fit, {"x": X_NEW + 1.0})
    assert len(model._programs) == before
    expected = fit.posterior["a"].values[..., None] + \
        fit.posterior["b"].values[..., None] * (X_NEW + 1.0)
    np.testing.assert_allclose(again.predictions["mu"].values, expected, rtol=1e-12)
    model.predict(fit, {"x": X_NEW[:2]})  # another N: a new program, the old one kept
    assert len(model._programs) > before


def test_missing_entries_of_given_observed_data_are_drawn(model, fit):
    y_new = [0.5, None, 1.5]
    out = model.predict(fit, {"x": [0.0, 1.0, 2.0], "y": y_new})
    draws = out.predictions["y"].values
    assert np.isfinite(draws).all() and draws[..., 1].std() > 0


def test_cli_predict_usage_errors_come_first(tmp_path, capsys):
    model_file = tmp_path / "model.ppl"
    model_file.write_text(REGRESSION)
    fit_file = str(tmp_path / "fit.nc")
    assert main(["predict", str(model_file), "--fit", fit_file, "--output", "p.txt"]) == 2
    assert "ppl predict: cannot write 'p.txt'" in capsys.readouterr().err
    assert main(["predict", str(model_file), "--fit", fit_file, "--seed", "-1"]) == 2
