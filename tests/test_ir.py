"""The graph IR: golden text dumps, parent maps, node kinds, and observed versus latent decided
by which data names are supplied.

Golden dumps live in ``tests/golden/ir``: ``NAME.ir`` is the dump of ``NAME.ppl`` without data
(symbolic sizes), ``NAME.data.ir`` the dump with ``NAME.json`` (concrete sizes). Rewrite them
with ``PPL_UPDATE_GOLDEN=1`` and review the difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ppl
from ppl.data import read_data_file
from ppl.ir.graph import KINDS
from ppl.ir.lower import lower
from ppl.ir.pretty import dot, dump

IR = Path(__file__).resolve().parent / "golden" / "ir"
CASES = sorted(p.stem for p in IR.glob("*.ppl"))
WITH_DATA = [s for s in CASES if (IR / f"{s}.json").exists()]

EIGHT_SCHOOLS = (IR / "eight_schools.ppl").read_text()
EIGHT_SCHOOLS_DATA = read_data_file(IR / "eight_schools.json")


def test_there_are_golden_models():
    assert len(CASES) >= 4 and "eight_schools" in WITH_DATA


@pytest.mark.parametrize("stem", CASES)
def test_ir_dump_without_data(stem, golden):
    golden(IR / f"{stem}.ir", ppl.load(IR / f"{stem}.ppl").ir())


@pytest.mark.parametrize("stem", WITH_DATA)
def test_ir_dump_with_data(stem, golden):
    model = ppl.load(IR / f"{stem}.ppl")
    golden(IR / f"{stem}.data.ir", model.ir(read_data_file(IR / f"{stem}.json")))


@pytest.mark.parametrize("stem", CASES)
def test_nodes_come_after_their_parents(stem):
    graph = lower(ppl.load(IR / f"{stem}.ppl").checked)
    seen: set[str] = set()
    for node in graph.nodes:
        assert node.kind in KINDS
        assert set(node.parents) <= seen, node.name
        assert node.parents == tuple(sorted(node.parents))
        seen.add(node.name)


def test_eight_schools_parents_and_kinds():
    graph = lower(ppl.model(EIGHT_SCHOOLS).checked)
    assert graph.parents() == {
        "J": (),
        "sigma": ("J",),
        "mu": (),
        "tau": (),
        "theta_raw": ("J",),
        "theta": ("mu", "tau", "theta_raw"),
        "y": ("J", "sigma", "theta"),
    }
    assert {n.name: n.kind for n in graph.nodes} == {
        "J": "data", "sigma": "data", "mu": "latent", "tau": "latent", "theta_raw": "latent",
        "theta": "deterministic", "y": "observed"}


def test_regression_parents_and_kinds():
    model = ppl.load(IR / "regression.ppl")
    graph = lower(model.checked, supplied={"N", "K", "X", "y"})
    assert graph.parents() == {
        "N": (), "K": (), "X": ("K", "N"),
        "x_mean": ("X",), "Xc": ("X", "x_mean"),
        "alpha": (), "beta": ("K",), "sigma": (),
        "mu": ("Xc", "alpha", "beta"),
        "y": ("N", "mu", "sigma"),
    }
    kinds = {n.name: n.kind for n in graph.nodes}
    assert kinds["x_mean"] == kinds["Xc"] == "transformed_data"
    assert kinds["mu"] == "deterministic"
    assert [n.name for n in graph.of_kind("latent")] == ["sigma", "alpha", "beta"]


def test_factor_nodes_and_comprehensions():
    graph = lower(ppl.load(IR / "hierarchical.ppl").checked)
    parents = graph.parents()
    assert parents["target[1]"] == ("normal_prior_on_mu",)
    assert parents["y"] == ("N", "a", "g", "s")
    assert parents["resid"] == ("N", "a", "g", "y")
    assert graph["target[1]"].kind == "factor"
    assert graph["mu"].kind == "latent" and graph["mu"].sample is None  # flat, from `param`
    assert graph["resid"].kind == "deterministic"


@pytest.mark.parametrize("supplied, y_kind", [
    (None, "observed"),  # without data: every declared name is taken as supplied
    ({"J", "sigma", "y"}, "observed"),
    ({"J", "sigma"}, "latent"),  # not supplied: simulated, a parameter of the model
])
def test_observed_or_latent_follows_the_supplied_data(supplied, y_kind):
    graph = lower(ppl.model(EIGHT_SCHOOLS).checked, supplied=supplied)
    assert graph["y"].kind == y_kind
    assert graph["theta"].kind == "deterministic"
    assert graph["sigma"].kind == "data"


def test_model_ir_without_the_observed_data():
    model = ppl.model(EIGHT_SCHOOLS)
    data = {k: v for k, v in EIGHT_SCHOOLS_DATA.items() if k != "y"}
    text = model.ir(data)
    assert "latent           y : vector[8]  ~ normal(theta, sigma)    <- J, sigma, theta\n" in text
    with pytest.raises(ppl.DataError, match="data 'y' is declared but not supplied"):
        model.compile(data)  # the IR shows what the data gives; fitting needs all of it
    compiled = model.compile(data, allow_missing_data=True)
    assert compiled.latent_names == ["mu", "tau", "theta_raw", "y"]
    assert compiled.observed_names == []
    assert compiled.dimension == 1 + 1 + 8 + 8


def test_observed_definition_is_observed_whatever_is_supplied():
    model = ppl.load(IR / "observed_definition.ppl")
    for supplied in (None, {"N", "y"}):
        graph = lower(model.checked, supplied=supplied)
        assert graph["log_y"].kind == "observed"
        assert graph.parents()["log_y"] == ("m", "s", "y")


def test_definitions_of_data_are_transformed_data():
    model = ppl.model("data N: int\ndata x: vector[N]\nc = sum(x) / N\nz = x - c\n"
                      "mu ~ normal(c, 1)\nw = mu + c\n")
    kinds = {n.name: n.kind for n in lower(model.checked).nodes}
    assert kinds == {"N": "data", "x": "data", "c": "transformed_data",
                     "z": "transformed_data", "mu": "latent", "w": "deterministic"}


def test_dump_is_the_text_of_model_ir():
    model = ppl.model(EIGHT_SCHOOLS)
    assert dump(lower(model.checked)) == model.ir()


def test_dot_output():
    text = dot(lower(ppl.model(EIGHT_SCHOOLS).checked))
    assert text.startswith("digraph model {\n") and text.endswith("}\n")
    assert '  "theta" -> "y";\n' in text
    assert '"y" [shape=ellipse, label="y\\nvector[J]", style=filled, fillcolor="#d0d0d0"];' in text
    assert text.count(" -> ") == sum(len(p) for p in lower(
        ppl.model(EIGHT_SCHOOLS).checked).parents().values())
