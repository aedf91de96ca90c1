"""Model graphs (ppl/ir/render.py, `ppl graph`): node kinds drawn distinctly, plates for indexed
families, DOT without Graphviz, SVG/PNG with it, and a clean error when `dot` is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import graphviz
import pytest

import ppl
from ppl.cli import main
from ppl.ir import render

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "examples" / "eight_schools.ppl")
DATA = str(ROOT / "examples" / "eight_schools.json")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` program is not installed")

# Every node kind: data, transformed data, latent, observed, deterministic and a factor.
ALL_KINDS = """
data N: int >= 1
data K: int >= 1
data X: matrix[N, K]
data y: vector[N]
x_mean = mean(X)
Xc = X - x_mean
alpha ~ normal(0, 10)
beta: vector[K] ~ normal(0, 2.5)
sigma ~ half_normal(1)
mu = alpha + Xc * beta
y ~ normal(mu, sigma)
target += -0.5 * square(alpha / 20)
"""


@pytest.fixture
def no_dot(monkeypatch):
    """No Graphviz programs on the PATH."""
    monkeypatch.setenv("PATH", "")


def _node_lines(source: str) -> dict[str, str]:
    """DOT node statements by node name (edges and attribute lines left out)."""
    nodes = {}
    for line in source.splitlines():
        line = line.strip()
        if "[label=" in line and "->" not in line:
            name = line.split(" [", 1)[0].strip('"')
            nodes[name] = line
    return nodes


def test_node_kinds_are_drawn_distinctly():
    graph = ppl.model(ALL_KINDS).graph_ir()
    kinds = {node.kind for node in graph.nodes}
    assert kinds == {"data", "transformed_data", "latent", "observed", "deterministic", "factor"}
    nodes = _node_lines(render.to_dot(graph))
    styles = {}
    for node in graph.nodes:
        line = nodes[node.name]
        styles[node.kind] = tuple(f"{k}={v}" in line.replace('"', "")
                                  for k, v in sorted(render.NODE_STYLES[node.kind].items()))
        assert all(styles[node.kind]), (node.kind, line)
    drawn = {kind: tuple(sorted(style.items())) for kind, style in render.NODE_STYLES.items()}
    assert len(set(drawn.values())) == len(drawn), "two node kinds are drawn alike"
    assert "filled" in render.NODE_STYLES["observed"].get("style", "")


def test_plates_group_nodes_by_leading_dimension():
    source = render.to_dot(ppl.load(MODEL).graph_ir())
    assert "subgraph cluster_0" in source
    cluster = source.split("subgraph cluster_0 {", 1)[1].split("}", 1)[0]
    assert "label=J " in cluster
    for name in ("sigma", "theta_raw", "theta", "y"):
        assert f"\t\t{name} [" in cluster
    for name in ("mu", "tau", "J"):
        assert f"\t\t{name} [" not in cluster
    assert render.plates(ppl.load(MODEL).graph_ir()).keys() == {"J"}


def test_plate_label_gives_the_size_when_data_is_given():
    data = json.loads(Path(DATA).read_text())
    source = render.to_dot(ppl.load(MODEL).graph_ir(data))
    assert 'label="J = 8"' in source
    assert "vector[8]" in source


def test_matrix_goes_to_the_plate_of_its_first_dimension():
    groups = render.plates(ppl.model(ALL_KINDS).graph_ir())
    assert {n.name for n in groups["N"]} >= {"X", "Xc", "y", "mu"}
    assert [n.name for n in groups["K"]] == ["beta"]


def test_labels_show_type_bounds_and_definition():
    nodes = _node_lines(render.to_dot(ppl.load(MODEL).graph_ir()))
    assert "sigma\\nvector[J] > 0" in nodes["sigma"]
    assert "~ normal(0, 5)" in nodes["mu"]
    assert "= mu + tau * theta_raw" in nodes["theta"]
    factor = _node_lines(render.to_dot(ppl.model(ALL_KINDS).graph_ir()))["target[1]"]
    assert "target += " in factor


def test_size_arrows_are_dashed_and_value_arrows_solid():
    source = render.to_dot(ppl.load(MODEL).graph_ir())
    assert "J -> theta_raw [color=\"#909090\" style=dashed]" in source
    assert "\tmu -> theta\n" in source


def test_every_example_model_renders_to_dot():
    paths = [ROOT / "examples" / "eight_schools.ppl", *sorted((ROOT / "tests" / "golden" / "ir")
                                                              .glob("*.ppl"))]
    for path in paths:
        graph = ppl.load(path).graph_ir()
        source = render.to_dot(graph)
        assert source.startswith(f"// {path}")
        assert set(_node_lines(source)) == {n.name for n in graph.nodes}, path


def test_model_graph_is_a_graphviz_digraph():
    digraph = ppl.load(MODEL).graph()
    assert isinstance(digraph, graphviz.Digraph)
    assert digraph.source == render.to_dot(ppl.load(MODEL).graph_ir())


def test_dot_needs_no_graphviz_programs(tmp_path, no_dot):
    path = render.write(ppl.load(MODEL).graph_ir(), tmp_path / "model.dot")
    assert path.read_text().startswith("// ")
    assert "digraph model {" in path.read_text()


def test_missing_dot_is_a_clean_ppl_error(tmp_path, no_dot):
    with pytest.raises(ppl.PPLError) as caught:
        render.write(ppl.load(MODEL).graph_ir(), tmp_path / "model.svg")
    message = str(caught.value)
    assert "the Graphviz program 'dot' is not installed" in message
    assert "apt-get install graphviz" in message
    assert ".dot" in message
    assert not (tmp_path / "model.svg").exists()


def test_unknown_suffix_is_an_error(tmp_path):
    with pytest.raises(ppl.PPLError, match="suffixes .dot, .gv, .svg, .png, .pdf"):
        render.write(ppl.load(MODEL).graph_ir(), tmp_path / "model.jpg")


@needs_dot
def test_svg_and_png(tmp_path):
    graph = ppl.load(MODEL).graph_ir()
    svg = render.write(graph, tmp_path / "model.svg").read_text()
    assert "<svg" in svg and ">theta_raw<" in svg and ">J<" in svg
    png = render.write(graph, tmp_path / "model.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert render.to_svg(graph).lstrip().startswith("<?xml")


# ------------------------------------------------------------------------- ppl graph (CLI)


def test_cli_graph_prints_dot_without_output(capsys):
    assert main(["graph", MODEL]) == 0
    captured = capsys.readouterr()
    assert captured.out == render.to_dot(ppl.load(MODEL).graph_ir())
    assert captured.err == ""


def test_cli_graph_writes_dot_with_data(tmp_path, capsys, no_dot):
    out = tmp_path / "model.dot"
    assert main(["graph", MODEL, "--data", DATA, "-o", str(out)]) == 0
    assert 'label="J = 8"' in out.read_text()
    assert capsys.readouterr().out == f"graph written to {out}\n"


@needs_dot
def test_cli_graph_writes_svg(tmp_path, capsys):
    out = tmp_path / "model.svg"
    assert main(["graph", MODEL, "--output", str(out)]) == 0
    assert "<svg" in out.read_text()


def test_cli_graph_without_dot_program(tmp_path, capsys, no_dot):
    out = tmp_path / "model.png"
    assert main(["graph", MODEL, "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{out}: error: cannot draw the model graph as PNG: the "
                                   "Graphviz program 'dot' is not installed\n")
    assert "apt-get install graphviz" in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_cli_graph_unknown_suffix_is_usage_error(tmp_path, capsys):
    assert main(["graph", MODEL, "-o", str(tmp_path / "model.jpg")]) == 2
    assert "name the output file with one of the suffixes" in capsys.readouterr().err


def test_cli_graph_model_error(tmp_path, capsys):
    bad = tmp_path / "bad.ppl"
    bad.write_text("mu ~ normal(0, sigam)\n")
    assert main(["graph", str(bad), "-o", str(tmp_path / "m.dot")]) == 1
    assert "unknown name 'sigam'" in capsys.readouterr().err


def test_graph_files_are_written_atomically(tmp_path, monkeypatch):
    """docs/security.md: the files ppl writes on request (`--output`, `ppl graph -o`) are
    written atomically, a temporary file in the same folder renamed over the target: a failed
    write leaves an older file intact and no temporary behind."""
    import os
    import stat

    path = tmp_path / "model.dot"
    path.write_text("old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", full_disk)
        with pytest.raises(render.RenderError, match="cannot write the model graph: No space"):
            render.write(ppl.load(MODEL).graph_ir(), path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    render.write(ppl.load(MODEL).graph_ir(), path)
    assert path.read_text() == render.to_dot(ppl.load(MODEL).graph_ir())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not a temporary file's 0o600
