"""benchmarks/bench_anchors.py compares ppl, NumPyro and nutpie on the same posteriors: the
PyMC models of benchmarks/pymc_models.py must be the .ppl models (the same latents on the same
unconstrained space, the same log density up to a constant). No sampling: a few log-density
evaluations per model, and the benchmark's non-measuring helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import ppl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_anchors import (  # noqa: E402
    PROBLEMS,
    Problem,
    load_problem,
    max_abs_z,
    select,
    summarise,
    table,
    union_seconds,
)
from benchmarks.bench_core import KIT, logistic_data  # noqa: E402


def _problem(name: str) -> Problem:
    if name == "logistic":  # small data: the density's form is what is compared
        data, _ = logistic_data(n=200, k=5)
        return Problem(name, ROOT / "benchmarks" / "logistic.ppl", data, {})
    if not (KIT / "posteriors" / name).is_dir():
        pytest.skip(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR)")
    return load_problem(name)


@pytest.mark.filterwarnings("ignore:.*data entries not used")  # the kit's files hold extras
@pytest.mark.parametrize("name", PROBLEMS)
def test_pymc_model_equals_ppl_model(name):
    pytest.importorskip("pymc")
    from benchmarks.pymc_models import LATENT_NAMES, MODELS

    problem = _problem(name)
    compiled = ppl.load(problem.model_path).compile(problem.data)
    model = MODELS[name](problem.data)
    aliases = LATENT_NAMES.get(name, {})
    free = {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}
    # The same latent variables on both sides.
    assert sorted(aliases.get(n, n) for n in compiled.latent_names) == sorted(free)
    shapes = {k: np.shape(v) for k, v in model.initial_point().items()}
    # FAST_COMPILE: no C compilation, seconds per model instead of tens
    logp = model.compile_fn(model.logp(jacobian=True), mode="FAST_COMPILE")

    def pymc_point(u):
        """ppl's flat unconstrained vector as PyMC's {value variable: unconstrained value}."""
        u = np.asarray(u)
        point = {}
        for b in compiled.blocks:
            value = free[aliases.get(b.name, b.name)]
            point[value] = u[b.offset:b.offset + b.size].reshape(shapes[value])
        return point

    keys = jax.random.split(jax.random.PRNGKey(20261206), 3)
    points = [compiled.initial_point(k, radius=1.0) for k in keys]
    ppl_values = np.array([float(compiled.jitted_log_density(u)) for u in points])
    pymc_values = np.array([float(logp(pymc_point(u))) for u in points])
    assert np.all(np.isfinite(ppl_values)) and np.all(np.isfinite(pymc_values))
    # Up to a constant (normalising constants may differ, never a function of the parameters);
    # the values differ between points by far more than the tolerance.
    assert np.ptp(ppl_values) > 1e-3
    scale = np.max(np.abs(ppl_values))
    np.testing.assert_allclose(pymc_values[1:] - pymc_values[0], ppl_values[1:] - ppl_values[0],
                               rtol=0, atol=1e-9 * scale + 1e-9)


def test_every_problem_has_a_pymc_model_and_a_ppl_model():
    pytest.importorskip("pymc")
    from benchmarks.pymc_models import MODELS

    assert sorted(MODELS) == sorted(PROBLEMS)
    models = ROOT / "tests" / "conformance" / "models"
    for name in PROBLEMS:
        assert (models / f"{name}.ppl").is_file() or name == "logistic"


def test_logistic_reference_is_the_simulation_truth():
    problem = load_problem("logistic")
    _, truth = logistic_data()
    assert len(problem.params) == 51 and problem.reference["alpha"] == (0.5, None)
    assert problem.reference["beta[50]"] == (float(truth["beta"][49]), None)
    assert problem.data["X"].shape == (20_000, 50)


def test_max_abs_z_uses_the_reference_sd_or_the_draws_own():
    draws = np.zeros((2, 4, 2))
    draws[..., 0] = 1.0
    draws[:, :2, 1], draws[:, 2:, 1] = 2.0, 4.0  # mean 3, sd 1
    assert max_abs_z({"b": draws}, {"b[1]": (0.0, 0.5)}) == pytest.approx(2.0)
    assert max_abs_z({"b": draws}, {"b[1]": (0.0, 0.5), "b[2]": (1.0, None)}) \
        == pytest.approx(2.0)
    assert max_abs_z({"b": draws}, {"b[2]": (0.0, None)}) == pytest.approx(3.0)


def test_union_seconds_counts_nested_and_overlapping_spans_once():
    assert union_seconds([]) == 0
    assert union_seconds([(0, 10), (2, 3), (9, 12), (20, 21)]) == pytest.approx(13)


def test_select_takes_parts_of_names_in_the_given_order():
    assert select("arK,kidiq", PROBLEMS) == ["kidiq-kidscore_interaction", "arK-arK"]
    assert select(None, ("a", "b")) == ["a", "b"]
    with pytest.raises(SystemExit, match="matches none"):
        select("nope", PROBLEMS)


def test_summary_takes_medians_and_ppl_ratio_to_the_best_other_tool():
    def run(tool, ess, rep):
        return {"problem": "p", "tool": tool, "phase": "cold", "rep": rep,
                "first_draw_s": 2.0 * rep, "ess_per_s": ess, "ess_per_1000_grad": 1.0,
                "max_abs_z": 0.1}

    records = [run("ppl", 30.0, 1), run("ppl", 10.0, 2), run("ppl", 20.0, 3),
               run("numpyro", 10.0, 1), run("nutpie", 8.0, 1),
               {"problem": "p", "tool": "ppl", "phase": "warm", "first_draw_s": 1.5,
                "first_fit_s": 2.5},
               {"problem": "p", "tool": "nutpie", "phase": "cold", "error": "over 9 s"}]
    rows = summarise(records, ["p"], ["ppl", "numpyro", "nutpie"])
    ppl_row, numpyro_row, nutpie_row = rows
    assert ppl_row["ess_per_s"] == 20.0 and ppl_row["ratio"] == pytest.approx(2.0)
    assert ppl_row["first_cold"] == 4.0 and ppl_row["first_warm"] == 1.5
    assert ppl_row["fit_warm"] == 2.5 and numpyro_row["fit_warm"] is None
    assert ppl_row["runs"] == 3 and nutpie_row["errors"] == ["over 9 s"]
    assert "ratio" not in numpyro_row
    # a tool without measurements (not installed) is a row of "-"
    text = table(summarise(records[:3], ["p"], ["ppl", "nutpie"]))
    assert text.splitlines()[-1].startswith("| p | nutpie | - | - | - | - |")
