"""Data are arguments of the compiled programs, not constants baked into them: a model fitted
again with new data of the same shapes reuses every compiled program of the NUTS path (the
log density, the starting-point climbs, the sampler, the results), and gets exactly the draws
a fresh compilation with that data gives."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from compile_log import compilations as compile_log

import ppl

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "examples" / "eight_schools.ppl").read_text()
DATA = json.loads((ROOT / "examples" / "eight_schools.json").read_text())
SHIFTED = {**DATA, "y": [v + 5 for v in DATA["y"]]}
RUN = dict(chains=2, draws=100, warmup=100, seed=1, posterior_predictive=True,
           log_likelihood=True)


def _fit(model, data, compilations: list[str] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if compilations is None:
            return model.sample(data, **RUN)
        with compile_log() as compiled:
            fit = model.sample(data, **RUN)
        compilations.extend(compiled)
        return fit


@pytest.fixture(scope="module")
def refitted():
    """One model fitted to the data, then to data shifted by 5 (the same shapes)."""
    model = ppl.model(SOURCE, "eight_schools.ppl")
    first = _fit(model, DATA)
    compilations: list[str] = []
    second = _fit(model, SHIFTED, compilations)
    return model, first, second, compilations


def test_new_data_of_the_same_shapes_compiles_nothing(refitted):
    _, _, _, compilations = refitted
    assert compilations == []


def test_the_reused_programs_give_the_draws_of_a_fresh_compilation(refitted):
    """Were the first data baked into a reused program, these draws would be the first fit's
    (its posterior of mu is about 5 lower)."""
    _, first, second, _ = refitted
    fresh = _fit(ppl.model(SOURCE, "eight_schools.ppl"), SHIFTED)
    for group in ("posterior", "posterior_predictive", "log_likelihood"):
        for name, values in fresh[group].data_vars.items():
            np.testing.assert_array_equal(second[group][name].values, values.values)
    np.testing.assert_array_equal(second["observed_data"]["y"].values, SHIFTED["y"])
    assert float(second["posterior"]["mu"].mean()) > float(first["posterior"]["mu"].mean()) + 1


def test_new_sizes_compile_new_programs_and_keep_the_old_ones(refitted):
    model, _, _, _ = refitted
    before = len(model._programs)
    smaller = {"J": 4, "y": DATA["y"][:4], "sigma": DATA["sigma"][:4]}
    fit = _fit(model, smaller)
    assert fit["posterior"]["theta"].shape == (2, 100, 4)
    assert len(model._programs) > before


def test_integer_scalars_are_static_and_every_other_value_is_traced():
    from ppl.codegen.programs import data_signature, traced_part

    data = {"N": np.asarray(3), "y": np.zeros(3), "g": np.asarray([1, 2, 1]),
            "s": np.asarray(1.5)}
    assert set(traced_part(data)) == {"y", "g", "s"}
    assert data_signature(data) == (
        (("N", 3),), (("g", (3,), "int64"), ("s", (), "float64"), ("y", (3,), "float64")))
