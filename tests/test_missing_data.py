"""Missing entries of observed data imputed as parameters (``y_unobserved``, completed ``y``).

The conjugate normal model with a known scale gives the exact answer: the imputed entries'
posterior is the posterior predictive of the observed rows, and the mean's posterior is the one
with the missing rows dropped.
"""

from __future__ import annotations

import json
import math
import warnings

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl
from ppl.cli import main

NORMAL = """
data N: int
data y: real[N]
mu ~ normal(0, 2)
y ~ normal(mu, 1)
"""

Y = [0.8, float("nan"), 1.9, 0.4, float("nan"), 1.2, 2.1, 0.7]
# Within this many Monte Carlo standard errors (a fixed seed; see test_posteriors.py's Z).
Z = 4.5


def _z(draws, mean: float, sd: float) -> tuple[float, float]:
    """z-scores of the estimates of the mean and sd of draws (chain, draw)."""
    draws = np.asarray(draws, dtype=float)
    se_mean = draws.std() / math.sqrt(float(az.ess(draws, method="mean")))
    se_sd = float(az.mcse(draws, method="sd"))
    return (draws.mean() - mean) / se_mean, (draws.std() - sd) / se_sd


def _exact_mu(observed) -> tuple[float, float]:
    """Posterior mean and sd of mu with prior normal(0, 2) and unit-variance observations."""
    precision = 1 / 4 + len(observed)
    return float(np.sum(observed)) / precision, 1 / math.sqrt(precision)


def _fit(data, seed=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ppl.model(NORMAL).sample(data, chains=4, draws=2000, warmup=500, seed=seed,
                                        log_likelihood=True)


@pytest.fixture(scope="module")
def imputed_fit():
    return _fit({"y": Y})


def test_imputed_entries_follow_the_posterior_predictive(imputed_fit):
    observed = [v for v in Y if not math.isnan(v)]
    mean, sd = _exact_mu(observed)
    unobserved = imputed_fit.posterior["y_unobserved"]
    assert unobserved.dims == ("chain", "draw", "y_unobserved_dim_0")
    assert list(unobserved["y_unobserved_dim_0"].values) == [2, 5]  # positions in y
    for k in range(2):
        z_mean, z_sd = _z(unobserved[:, :, k], mean, math.sqrt(sd**2 + 1))
        assert abs(z_mean) < Z and abs(z_sd) < Z, (k, z_mean, z_sd)


def test_the_completed_array_holds_the_data_and_the_imputed_values(imputed_fit):
    completed = imputed_fit.posterior["y"].values
    assert completed.shape == (4, 2000, len(Y))
    observed = ~np.isnan(Y)
    np.testing.assert_array_equal(completed[:, :, observed],
                                  np.broadcast_to(np.asarray(Y)[observed], (4, 2000, 6)))
    np.testing.assert_array_equal(completed[:, :, [1, 4]],
                                  imputed_fit.posterior["y_unobserved"].values)
    assert np.isnan(imputed_fit.observed_data["y"].values[[1, 4]]).all()


def test_the_pointwise_log_likelihood_covers_the_observed_entries_only(imputed_fit):
    pointwise = imputed_fit.log_likelihood["y"]
    assert pointwise.dims == ("chain", "draw", "y_observed_dim_0")
    assert list(pointwise["y_observed_dim_0"].values) == [1, 3, 4, 6, 7, 8]
    mu = imputed_fit.posterior["mu"].values[..., None]
    observed = np.asarray(Y)[~np.isnan(Y)]
    np.testing.assert_allclose(pointwise.values, stats.norm(mu, 1).logpdf(observed))


def test_other_parameters_fit_as_with_the_missing_rows_dropped(imputed_fit):
    dropped = _fit({"y": [v for v in Y if not math.isnan(v)]}, seed=2)
    a, b = imputed_fit.posterior["mu"], dropped.posterior["mu"]

    def mcse(draws):
        return float(draws.std()) / math.sqrt(float(az.ess(draws.values, method="mean")))

    z = (float(a.mean()) - float(b.mean())) / math.hypot(mcse(a), mcse(b))
    assert abs(z) < Z, z
    exact = _exact_mu([v for v in Y if not math.isnan(v)])
    assert abs(_z(a.values, *exact)[0]) < Z


def test_the_density_adds_the_missing_entries_to_the_prior():
    compiled = ppl.model(NORMAL).compile({"y": Y})
    assert compiled.dimension == 3
    u = jnp.asarray([0.3, 1.5, -0.5])
    prior, likelihood = compiled.log_density_parts(u)
    observed = np.asarray(Y)[~np.isnan(Y)]
    assert float(likelihood) == pytest.approx(stats.norm(0.3, 1).logpdf(observed).sum())
    assert float(prior) == pytest.approx(stats.norm(0, 2).logpdf(0.3)
                                         + stats.norm(0.3, 1).logpdf([1.5, -0.5]).sum())
    values = compiled.constrain(u)
    np.testing.assert_allclose(compiled.unconstrain(values), u)


def test_declared_bounds_are_the_support_of_the_imputed_entries():
    model = ppl.model("""
data N: int
data y: real[N] > 0
mu ~ normal(0, 1)
y ~ lognormal(mu, 1)
""")
    compiled = model.compile({"y": [1.0, None, 2.0]})
    u = jnp.asarray([0.2, -1.0])
    value = compiled.constrain(u)["y_unobserved"]
    assert float(value[0]) == pytest.approx(math.exp(-1.0))
    prior, _ = compiled.log_density_parts(u)
    # lognormal's own density at exp(-1), plus the log |Jacobian| of exp (-1)
    expected = stats.norm(0, 1).logpdf(0.2) + stats.lognorm(1, scale=math.exp(0.2)).logpdf(
        math.exp(-1.0)) - 1.0
    assert float(prior) == pytest.approx(expected)
    np.testing.assert_allclose(compiled.unconstrain(compiled.constrain(u)), u)


def test_the_same_count_reuses_the_compiled_programs():
    model = ppl.model("data N: int\ndata x: real[N]\ndata y: real[N]\nmu ~ normal(0, 1)\n"
                      "y ~ normal(mu * x, 1)")
    x = [1.0, 2.0, 3.0, 4.0]
    first = model.compile({"x": x, "y": [1.0, None, 2.0, 3.0]})
    second = model.compile({"x": x, "y": [None, 1.0, 2.0, 3.0]})
    assert first.signature == second.signature
    u = jnp.asarray([0.1, 0.7])
    assert float(first.jitted_log_density(u)) == pytest.approx(
        float(first.log_density(u)))
    assert float(second.jitted_log_density(u)) == pytest.approx(
        float(second.log_density(u)))
    assert float(first.log_density(u)) != float(second.log_density(u))


def test_pandas_na_and_json_null_are_missing():
    pd = pytest.importorskip("pandas")
    model = ppl.model(NORMAL)
    frame = pd.DataFrame({"y": pd.array([1.0, None, 2.0], dtype="Float64")})
    assert model.compile(frame).imputed == ("y",)
    series = pd.Series([1, None, 2], dtype="Int64")
    assert model.compile({"y": series}).imputed == ("y",)
    assert model.compile(json.loads('{"y": [1, null, 2]}')).imputed == ("y",)


@pytest.mark.parametrize("source, data, message", [
    ("data N: int\ndata x: real[N]\ndata y: real[N]\nb ~ normal(0, 1)\ny ~ normal(b * x, 1)",
     {"x": [1.0, None], "y": [1.0, 2.0]}, "data 'x' has missing entries (the first "
     "is nan at [2])"),
    ("data N: int\ndata y: int[N]\nmu ~ normal(0, 1)\ny ~ poisson(exp(mu))",
     {"y": [1, None, 2]}, "data 'y' has missing entries (the first at [2]), but its "
     "distribution poisson is discrete"),
    ("data N: int\ndata y: real[N]\nmu ~ normal(0, 1)\ny[n] ~ normal(mu, 1) for n in 1:N",
     {"y": [1, None, 2]}, "statement covers it element by element"),
    ("data N: int\ndata y: real[N]\nybar = mean(y)\nmu ~ normal(ybar, 1)\ny ~ normal(mu, 1)",
     {"y": [1, None, 2]}, "'ybar' is computed from 'y' before the missing entries"),
])
def test_entries_that_cannot_be_imputed_are_located_errors(source, data, message):
    with pytest.raises(ppl.DataError) as info:
        ppl.model(source).compile(data)
    assert message in str(info.value)
    assert info.value.diagnostics[0].span.line > 0


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_cli_imputes_empty_csv_cells_and_json_null(tmp_path, suffix, capsys):
    model = tmp_path / "model.ppl"
    model.write_text(NORMAL)
    data = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        rows = [f"{i},{'' if math.isnan(v) else v}" for i, v in enumerate(Y)]
        data.write_text("row,y\n" + "\n".join(rows) + "\n")  # row: unused, a warning
    else:
        data.write_text(json.dumps({"y": [None if math.isnan(v) else v for v in Y]}))
    output = tmp_path / "fit.nc"
    assert main(["run", str(model), "--data", str(data), "--chains", "2", "--draws", "200",
                 "--warmup", "200", "--no-progress", "--output", str(output)]) == 0
    fit = ppl.load_fit(output)
    assert fit.posterior["y_unobserved"].shape == (2, 200, 2)
    printed = capsys.readouterr().out
    assert "y_unobserved[2]" in printed
    assert "y[1]" not in printed  # the completed array is in the fit, not in the table


def test_a_completed_array_too_large_to_store_is_left_out_like_a_deterministic():
    y = np.random.default_rng(0).normal(size=1000)
    y[5] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ppl.model(NORMAL).sample({"y": y}, chains=1, draws=300, warmup=300,
                                       memory_limit="2MB")
    assert list(fit.posterior.data_vars) == ["mu", "y_unobserved"]
    assert any("'y' was left out of the stored draws" in str(w.message) for w in caught)
