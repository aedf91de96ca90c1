"""Every backend takes the data as arguments of its compiled programs: one ``Model`` fitted
again to new data of the same shapes compiles nothing (NUTS, the control, did so first; ADVI,
SMC, MAP and Pathfinder once compiled anew at every fit, with the data, and ADVI's Laplace
preconditioner, baked in as constants), and the reused programs answer for the new data:
the posterior moves as the data say, and the draws are those a fresh compilation gives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from compile_log import compilations

import ppl

# A regression with a covariate: both the response and the covariate are traced data.
SOURCE = """
data N: int >= 1
data x: real[N]
data y: real[N]
a ~ normal(0, 10)
b ~ normal(0, 10)
sigma ~ half_normal(2)
y ~ normal(a + b * x, sigma)
"""
X = np.linspace(-1.0, 1.0, 12)
Y = 1.0 + 0.5 * X + np.array([0.3, -0.2, 0.1, 0.4, -0.5, 0.2, -0.1, 0.0, 0.3, -0.3, 0.2, -0.4])
DATA = {"N": 12, "x": X.tolist(), "y": Y.tolist()}
SHIFT = 5.0  # every y moves up by 5: the intercept a follows (b and sigma do not)
SHIFTED = {**DATA, "y": (Y + SHIFT).tolist()}

SMALL = dict(chains=1, draws=200, seed=3)
CASES = {
    "nuts": dict(backend="nuts", warmup=200),
    "advi": dict(backend="advi", max_steps=2000),
    "smc-prior": dict(backend="smc", reference="prior"),
    "smc-laplace": dict(backend="smc", reference="laplace"),
    "map": dict(backend="map", chains=2),
    "map-laplace": dict(backend="map", laplace=True),
    "pathfinder": dict(backend="pathfinder", chains=2, draws=100),
}


def _fit(model, data, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.sample(data, **{**SMALL, **options})


@pytest.fixture(scope="module", params=list(CASES))
def refitted(request):
    """A model fitted to the data, then to the shifted data (logging what was compiled), and
    a new model of the same text fitted to the shifted data."""
    options = CASES[request.param]
    model = ppl.model(SOURCE, "regression.ppl")
    first = _fit(model, DATA, options)
    with compilations() as compiled:
        second = _fit(model, SHIFTED, options)
    fresh = _fit(ppl.model(SOURCE, "regression.ppl"), SHIFTED, options)
    return first, second, fresh, compiled


def test_a_second_fit_with_new_data_compiles_nothing(refitted):
    _, _, _, compiled = refitted
    assert compiled == []


def test_the_second_fit_answers_for_the_new_data(refitted):
    """Were the first data (or a preconditioner found from them) baked into a reused
    program, the intercept would stay where the first data put it."""
    first, second, _, _ = refitted
    moved = float(second["posterior"]["a"].mean()) - float(first["posterior"]["a"].mean())
    assert abs(moved - SHIFT) < 0.5


def test_the_reused_programs_give_the_draws_of_a_fresh_compilation(refitted):
    _, second, fresh, _ = refitted
    for name, values in fresh["posterior"].data_vars.items():
        np.testing.assert_array_equal(second["posterior"][name].values, values.values)
