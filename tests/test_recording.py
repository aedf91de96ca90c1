"""The recording rule (ppl/recording.py): parameters always; deterministics, discrete
parameters and generated quantities when they have at most SMALL values; ``var_names`` adds
(``"mu"``) and leaves out (``"~mu"``); the same for every backend, for prior simulation and on
the command line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import ppl
from ppl.cli import main
from ppl.recording import SMALL, parse_var_names

SOURCE = """
data N: int
data x: vector[N]
data y: vector[N]
a ~ normal(0, 1)
b ~ normal(0, 1)
mu = a + b * x
total = a + b
pair = [a, b]
y ~ normal(mu, 1)
generated y_rep[n] ~ normal(mu[n], 1) for n in 1:N
generated gap = b - a
"""
N = 30
X = np.linspace(0, 1, N)
DATA = {"N": N, "x": X, "y": 0.5 + X}


@pytest.fixture(scope="module")
def model():
    return ppl.model(SOURCE, name="rec.ppl")


def _sample(model, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.sample(DATA, chains=1, draws=20, warmup=20, **kwargs)


def test_small_quantities_and_parameters_are_recorded_large_ones_are_not(model):
    assert N > SMALL
    fit = _sample(model)
    assert set(fit["posterior"].data_vars) == {"a", "b", "total", "pair", "gap"}


@pytest.mark.parametrize("backend, options", [
    ("nuts", {}), ("map", {}), ("advi", {"max_steps": 100, "check_every": 50}),
])
def test_var_names_adds_and_leaves_out_for_every_backend(model, backend, options):
    fit = _sample(model, backend=backend, var_names=["mu", "y_rep", "~total"], **options)
    assert set(fit["posterior"].data_vars) == {"a", "b", "mu", "y_rep", "pair", "gap"}
    draws = fit["posterior"]
    np.testing.assert_allclose(draws["mu"].values, draws["a"].values[..., None]
                               + draws["b"].values[..., None] * X)


def test_a_single_name_may_be_a_string(model):
    assert "mu" in _sample(model, var_names="mu")["posterior"]


def test_prior_simulation_follows_the_same_rule(model):
    prior = model.sample_prior_predictive(DATA, draws=10)
    assert set(prior["prior"].data_vars) == {"a", "b", "total", "pair", "gap"}
    prior = model.sample_prior_predictive(DATA, draws=10, var_names=["mu"])
    assert prior["prior"]["mu"].shape == (1, 10, N)


@pytest.mark.parametrize("names, message", [
    (["muu"], "var_names names 'muu', which is not a quantity of the model"),
    (["~a"], "var_names leaves out 'a', a parameter: parameters are always recorded"),
    (["x"], "var_names names 'x', which is data: it has no draws to record"),
    ([3], "var_names holds 3, not a name"),
])
def test_var_names_mistakes_are_errors_before_sampling(model, names, message):
    with pytest.raises(ppl.SamplingError) as info:
        _sample(model, var_names=names)
    assert [d.message for d in info.value.diagnostics] == [message]
    assert all(d.hint for d in info.value.diagnostics)


def test_an_unknown_name_gets_the_nearest_one(model):
    with pytest.raises(ppl.SamplingError) as info:
        _sample(model, var_names=["Mu"])
    assert info.value.diagnostics[0].hint == "did you mean 'mu'?"


def test_resume_keeps_what_the_fit_recorded(model):
    fit = _sample(model, var_names=["mu"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        more = model.resume(fit, DATA, draws=10)
    assert set(more["posterior"].data_vars) == set(fit["posterior"].data_vars)
    assert more["posterior"]["mu"].shape == (1, 30, N)


def test_parse_var_names():
    assert parse_var_names(None) is None
    assert parse_var_names("mu, ~theta,") == ("mu", "~theta")


def test_cli_var_names_and_a_summary_without_the_per_row_quantities(tmp_path, capsys):
    model = tmp_path / "rec.ppl"
    model.write_text(SOURCE)
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"N": N, "x": X.tolist(), "y": DATA["y"].tolist()}))
    common = ["run", str(model), "--data", str(data), "--chains", "1", "--draws", "20",
              "--warmup", "20", "--no-progress"]
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "total" in out and "mu[1]" not in out and "y_rep[1]" not in out
    assert main(common + ["--var-names", "mu,~total"]) == 0
    out = capsys.readouterr().out
    assert f"mu[{N}]" in out and "total" not in out
    assert main(common + ["--var-names", "nothing"]) == 1
    assert "var_names names 'nothing', which is not a quantity of the model" in \
        capsys.readouterr().err


def test_a_quantity_not_recorded_is_computed_again_from_the_draws(model):
    from ppl.results import recompute

    fit = _sample(model, var_names=["mu"])
    again = recompute(model.compile(DATA), fit, ["mu", "y_rep"])
    np.testing.assert_allclose(again["mu"].values, fit["posterior"]["mu"].values, rtol=1e-10)
    assert again["mu"].dims == fit["posterior"]["mu"].dims
    assert again["y_rep"].shape == (1, 20, N)
    with pytest.raises(ppl.SamplingError, match="'x' is not a quantity of the model's draws"):
        recompute(model.compile(DATA), fit, ["x"])
