"""The comparison of saved tutorial outputs with a re-run (tests/tutorial_outputs.py), on the
saved notebooks themselves: fast, no kernel. tests/test_tutorials.py applies it to real re-runs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from tutorial_outputs import checked_cells, compare_cell, numbers, stale_outputs

nbformat = pytest.importorskip("nbformat")

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
CHECKED = ["01_first_model", "02_regression", "03_hierarchical",
           "04_mixtures_and_discrete_latents", "05_time_series_and_odes",
           "06_choosing_a_backend"]

SUMMARY = """\
sampled in 3.7 s
         mean     sd eti89_lb eti89_ub ess_bulk ess_tail r_hat mcse_mean  mcse_sd
mu[1]   2.044  0.064      1.9      2.1     2125     1258  1.00    0.0014   0.0018
mu[2]   3.884  0.063      3.8        4     2037     1632  1.00    0.0014   0.0017
"""


def read(name: str):
    return nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4)


def stdout_cell(notebook, needle: str):
    """The index of the checked cell whose stdout contains needle."""
    for index, cell in enumerate(notebook.cells):
        if "ppl_check" in cell.get("metadata", {}):
            for output in cell.get("outputs", []):
                if output.get("name") == "stdout" and needle in output.get("text", ""):
                    return index, output
    raise AssertionError(f"no checked cell prints {needle!r}")


@pytest.mark.parametrize("name", CHECKED)
def test_saved_notebook_agrees_with_itself_and_marks_its_numbers(name):
    notebook = read(name)
    assert checked_cells(notebook) >= 3
    assert stale_outputs(notebook, copy.deepcopy(notebook)) == []


def test_an_edited_stored_number_is_stale():
    # the stale output of issue 17: Pathfinder's Pareto k printed as 0.80 by an older version
    saved = read("06_choosing_a_backend")
    rerun = copy.deepcopy(saved)
    index, output = stdout_cell(saved, "pareto_k = ")
    line = next(x for x in output.text.splitlines() if "Pathfinder" in x)
    k = line.split("=")[-1].strip()
    output.text = output.text.replace(f"pareto_k = {k}", "pareto_k = 0.8015")
    problems = stale_outputs(saved, rerun)
    assert len(problems) == 1 and f"cell {index}" in problems[0] and "0.8015" in problems[0]


def test_summary_means_are_compared_by_monte_carlo_error():
    assert compare_cell(SUMMARY, SUMMARY.replace("2.044", "2.051"), {}, "c") == []  # ~3.5 mcse
    moved = compare_cell(SUMMARY, SUMMARY.replace("2.044", "2.08"), {}, "c")
    assert len(moved) == 1 and "mu[1] mean" in moved[0]


def test_label_switching_in_a_saved_summary_is_stale():
    switched = SUMMARY.replace("2.044  0.064", "3      0.922").replace(
        "1.00    0.0014   0.0018", "1.74      0.46   0.0013")
    problems = compare_cell(switched, SUMMARY, {}, "c")
    assert any("r_hat" in p for p in problems)


def test_timings_and_rounding_are_not_differences():
    assert compare_cell("sampled in 3.7 s\nk = 0.57\n", "sampled in 31.1 s\nk = 0.574\n",
                        {"atol": 0.0, "rtol": 0.0}, "c") == []
    assert compare_cell("steps = 3200\n", "steps = 800\n", {}, "c")
    assert numbers("mean_level -10.7 1.51e+01 nan") == [(-10.7, 0.05), (15.1, 0.05),
                                                        (pytest.approx(float("nan"),
                                                                       nan_ok=True), 0.0)]


def test_a_changed_count_of_numbers_is_stale():
    problems = compare_cell("1987 0.124\n1988 0.122\n", "1986 0.024\n1987 0.124\n1988 0.122\n",
                            {}, "c")
    assert problems and "numbers saved" in problems[0]


def test_lines_and_tables_only_narrow_the_comparison():
    saved = "divergences: [ 8  2 10 90]\n   non-centred: P(tau < 1) = 0.188\n"
    rerun = "divergences: [ 0  1  3  2]\n   non-centred: P(tau < 1) = 0.190\n"
    assert compare_cell(saved, rerun, {"lines": "non-centred"}, "c") == []
    assert compare_cell(saved, rerun, {}, "c")
    assert compare_cell(saved + SUMMARY, rerun + SUMMARY, {"tables_only": True}, "c") == []
