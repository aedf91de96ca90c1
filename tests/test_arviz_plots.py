"""ArviZ's plots on a default fit of every tutorial and example model: the recording rule keeps
the posterior small enough for them (a per-observation deterministic stored at chains x draws x
N made plot_trace ask for more subplots than ArviZ allows), and the data groups
(``observed_data``, ``constant_data``) are there for the posterior-predictive plots,
``plot_lm`` and LOO-PIT.

The eight schools example and a regression run by default; the other models are ``slow``.
Matplotlib draws off-screen (the Agg backend, chosen inside the fixture, not on import)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import ppl
from ppl.data import read_data_file

az = pytest.importorskip("arviz")
matplotlib = pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tutorials" / "models"
TABLES = ROOT / "tutorials" / "data"

# The bike-share regression of tutorial 02: `mu` has one value per day.
BIKES = """
data N: int >= 1
data temp_z: real[N]
data weekend: real[N]
data rides_k: real[N]
alpha ~ normal(5, 3)
beta_temp ~ normal(0, 2)
beta_weekend ~ normal(0, 2)
sigma ~ half_normal(2)
mu = alpha + beta_temp * temp_z + beta_weekend * weekend
rides_k ~ normal(mu, sigma)
"""


def _table(name: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_data_file(TABLES / name)


def _bikes():
    bikes = _table("bikes.csv")
    return ppl.model(BIKES, name="bikes"), {"temp_z": (bikes["temp"] - 20) / 10,
                                             "weekend": bikes["weekend"],
                                             "rides_k": bikes["rides"] / 1000}


def _eight_schools():
    data = json.loads((ROOT / "examples" / "eight_schools.json").read_text())
    return ppl.load(ROOT / "examples" / "eight_schools.ppl"), data


def _tutorial(name: str):
    """A tutorial model with its data, read from the tutorial's table as the notebook does."""
    model = ppl.load(MODELS / f"{name}.ppl")
    if name.startswith("eight_schools"):
        return model, _eight_schools()[1]
    if name == "germination":
        return model, {"y": np.random.default_rng(7).binomial(1, 0.72, size=40)}
    if name == "geyser_mixture":
        return model, {"minutes": _table("geyser.csv")["minutes"]}
    if name == "lake_ar":
        return model, {"K": 2, "y": _table("lake_levels.csv")["level_cm"]}
    if name == "mine_changepoint":
        mines = _table("mine_accidents.csv")
        return model, {"year": mines["year"], "accidents": mines["accidents"]}
    if name == "returns_garch":
        r = _table("returns.csv")["return_pct"]
        return model, {"r": r, "sigma1": float(np.std(r)), "H": 20}
    if name == "tremor_hmm":
        return model, {"tremors": _table("tremors.csv")["tremors"]}
    if name == "constant_flux":  # tutorial 08 simulates its counts
        counts = np.random.default_rng(42).poisson(1000, size=50).astype(float)
        return model, {"F": counts, "e": np.sqrt(counts)}
    if name == "billiard_game":
        return model, {"alice_won": [1, 1, 0, 1, 0, 1, 1, 0]}
    if name == "truncated_exponential":
        return model, {"x": [10.0, 12.0, 15.0]}
    if name == "narrow_range_line":  # tutorial 07 simulates its measurements
        x = 2 + 0.05 * np.arange(10)
        y = 0.5 - 0.8 * x + np.random.default_rng(7).normal(size=10)
        return model, {"N": 10, "x": x, "y": y}
    drug = _table("drug_levels.csv")
    grid = np.arange(0.25, 30.01, 0.25)
    return model, {"dose": 200.0, "hours": drug["hours"], "conc": drug["conc_mg_per_l"],
                   "G": len(grid), "grid": grid}


def _check_plots(fit) -> None:
    """Every ArviZ plot that applies to the fit, on its default contents."""
    import matplotlib.pyplot as plt

    az.plot_trace(fit)
    az.plot_trace_dist(fit)
    az.plot_rank(fit)
    az.plot_ess(fit)
    az.plot_forest(fit)
    az.plot_energy(fit)
    # A pair plot draws one panel per pair of scalars: it is made for a few of them.
    scalars = [name for name, value in fit["posterior"].items()
               if set(value.dims) <= {"chain", "draw"}][:3]
    az.plot_pair(fit, var_names=scalars)
    if "posterior_predictive" in fit.children:
        az.plot_ppc_dist(fit, num_samples=20)
    plt.close("all")


@pytest.fixture(autouse=True)
def offscreen():
    """Matplotlib's Agg backend for these tests only."""
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    plt.close("all")
    plt.switch_backend(before)


def _fit(model, data, **options):
    return model.sample(data, chains=2, draws=60, warmup=60, seed=1, **options)


def test_every_plot_on_the_eight_schools_example():
    model, data = _eight_schools()
    fit = _fit(model, data, posterior_predictive=True)
    assert set(fit["posterior"].data_vars) == {"mu", "tau", "theta_raw", "theta"}
    _check_plots(fit)


def test_a_regression_records_its_parameters_and_draws_every_plot():
    model, data = _bikes()
    fit = _fit(model, data, posterior_predictive=True, log_likelihood=True)
    assert set(fit["posterior"].data_vars) == {"alpha", "beta_temp", "beta_weekend", "sigma"}
    assert set(fit["constant_data"].data_vars) == {"temp_z", "weekend"}  # N: the dim
    assert list(fit["constant_data"].data_vars)[0] == "temp_z"  # plot_lm's default x
    np.testing.assert_array_equal(fit["observed_data"]["rides_k"], data["rides_k"])
    _check_plots(fit)
    az.plot_lm(fit)
    az.plot_lm(fit, x="weekend")
    az.plot_loo_pit(fit)
    from arviz_stats import loo_pit

    pit = loo_pit(fit)["rides_k"].values
    assert pit.shape == (180,) and np.all((pit >= 0) & (pit <= 1))


def test_var_names_records_a_large_deterministic_on_request():
    model, data = _bikes()
    fit = _fit(model, data, var_names=["mu"])
    assert fit["posterior"]["mu"].shape == (2, 60, 180)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in MODELS.glob("*.ppl")))
def test_every_plot_on_a_tutorial_model(name):
    model, data = _tutorial(name)
    fit = _fit(model, data, posterior_predictive=True)
    sizes = [value.size // (2 * 60) for value in fit["posterior"].values()]
    assert sum(sizes) <= az.rcParams["plot.max_subplots"], sizes
    _check_plots(fit)
