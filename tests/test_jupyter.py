"""Jupyter support (ppl/jupyter.py): a Model displays as its graph (SVG) or, without Graphviz,
as the text of its graph IR; `%load_ext ppl` gives the `%%ppl NAME` cell magic."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import ppl

EIGHT_SCHOOLS = """data J: int >= 1
data y: real[J]
data sigma: real[J] > 0
mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta_raw: vector[J] ~ normal(0, 1)
theta = mu + tau * theta_raw
y ~ normal(theta, sigma)
"""


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_model_displays_as_svg():
    model = ppl.model(EIGHT_SCHOOLS)
    svg = model._repr_svg_()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert ">theta_raw<" in svg
    html = model._repr_html_()
    assert html.startswith('<div class="ppl-model"><svg')


def test_model_displays_as_text_without_graphviz(monkeypatch):
    monkeypatch.setenv("PATH", "")
    model = ppl.model(EIGHT_SCHOOLS, name="eight<schools>")
    assert model._repr_svg_() is None
    html = model._repr_html_()
    assert html.startswith('<pre class="ppl-model"')
    assert html.endswith("</pre>")
    assert "# ppl model eight&lt;schools&gt;" in html
    assert "observed         y : vector[J]" in html
    assert "&lt;- J, sigma, theta" in html  # the IR text, HTML-escaped
    assert "<-" not in html


def test_ipython_display_formatter_uses_the_reprs(monkeypatch):
    pytest.importorskip("IPython", reason="IPython is not installed")
    from IPython.core.formatters import DisplayFormatter

    monkeypatch.setenv("PATH", "")
    model = ppl.model(EIGHT_SCHOOLS)
    data, _ = DisplayFormatter().format(model)
    assert data["text/plain"] == repr(model)
    assert data["text/html"].startswith("<pre")
    assert "image/svg+xml" not in data


# ------------------------------------------------------------------------------ %%ppl magic


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A fresh IPython shell with the ppl extension loaded (no history file)."""
    pytest.importorskip("IPython", reason="IPython is not installed: the %%ppl magic is not "
                                          "tested (pip install ipython)")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "ppl")
    yield shell
    InteractiveShell.clear_instance()


def test_magic_defines_a_model(shell):
    result = shell.run_cell("%%ppl eight\n" + EIGHT_SCHOOLS)
    assert result.success, result.error_in_exec
    model = shell.user_ns["eight"]
    assert isinstance(model, ppl.Model)
    assert model.ir() == ppl.model(EIGHT_SCHOOLS).ir()
    assert model.source.name == "<%%ppl eight>"


def test_magic_model_can_be_used_from_python(shell):
    assert shell.run_cell("%%ppl m\nmu ~ normal(0, 1)\n").success
    assert shell.run_cell("kinds = [n.kind for n in m.graph_ir().nodes]").success
    assert shell.user_ns["kinds"] == ["latent"]


def test_magic_error_is_clean_and_located_in_the_cell(shell):
    from IPython.core.error import UsageError

    result = shell.run_cell("%%ppl bad\nmu ~ normal(0, 1)\ny ~ normal(mu, sigam)\n")
    assert not result.success
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    # Line 3 of the cell, counting the %%ppl line as the notebook does.
    assert message.startswith("<%%ppl bad>:3:16: error: unknown name 'sigam'")
    assert "   3 | y ~ normal(mu, sigam)" in message
    assert "bad" not in shell.user_ns


@pytest.mark.parametrize("line", ["", "1model", "class", "two names"])
def test_magic_needs_a_valid_name(shell, line):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="%%ppl NAME"):
        shell.run_cell_magic("ppl", line, "mu ~ normal(0, 1)\n")


def test_magic_prints_model_warnings(shell, capsys):
    from ppl.jupyter import ppl_cell_magic

    namespace: dict = {}
    ppl_cell_magic("m", "data x: real\nmu ~ normal(0, 1)\n", namespace)
    assert isinstance(namespace["m"], ppl.Model)
    assert "warning" in capsys.readouterr().err


def test_a_fit_displays_its_summary_and_warnings(shell):
    fit = ppl.model(EIGHT_SCHOOLS).sample(
        {"J": 3, "y": [28.0, 8.0, -3.0], "sigma": [15.0, 10.0, 16.0]},
        chains=2, draws=30, warmup=30, seed=1)
    formatted, _ = shell.display_formatter.format(fit)
    page = formatted["text/html"]
    assert page.startswith('<div class="ppl-fit"><b>ppl fit</b> (nuts)')
    for name in ("mu", "tau", "theta[3]", "r_hat"):
        assert f"<td>{name}</td>" in page or f"<th>{name}</th>" in page
    assert "warning: low effective sample size" in page  # 60 draws: too few, and it says so
    assert "<details><summary>groups</summary>" in page  # ArviZ's view is kept


def test_other_datatrees_keep_their_display(shell):
    from arviz_base import from_dict

    tree = from_dict({"posterior": {"x": np.array([[1.0, 2.0]])}})
    formatted, _ = shell.display_formatter.format(tree)
    assert "ppl-fit" not in formatted["text/html"]
    assert "xr-sections" in formatted["text/html"]  # xarray's own view
