"""Jupyter support: models display as their graph, and a ``%%ppl NAME`` cell magic.

- A model shown in a notebook is drawn as its graph (SVG, when Graphviz's ``dot`` program is
  installed) or, without Graphviz, as the text form of its graph IR in a ``<pre>`` block: that
  is :class:`ppl.display.GraphDisplay`, mixed into :class:`ppl.Model` (this module imports the
  model for the magic, so the model cannot import this module).
- ``%load_ext ppl`` registers the cell magic ``%%ppl NAME``: the rest of the cell is a model,
  checked and bound to ``NAME`` in the notebook's namespace. Errors are shown as ppl renders
  them (line numbers count the ``%%ppl`` line, as the notebook numbers the cell's lines).
- A fit (the ArviZ DataTree that ``sample`` returns) displays as its summary table and the
  sampler's warnings, above ArviZ's own view of its groups. This is registered when ppl is
  imported in a running IPython (or by ``%load_ext ppl``); other DataTrees display as usual.

IPython is imported only when the extension is loaded, so ppl does not depend on it.
"""

from __future__ import annotations

import html
import keyword
import sys
from typing import Any

_MAGIC_USAGE = "usage: %%ppl NAME, then the model on the following lines of the cell"


def ppl_cell_magic(line: str, cell: str, namespace: dict[str, Any]) -> Any:
    """Define a model from ``cell`` and bind it to the name given on the magic ``line``.

    Raises IPython's ``UsageError`` (shown without a traceback) for a missing or invalid name
    and for errors in the model, whose message is ppl's rendered diagnostic.
    """
    from IPython.core.error import UsageError

    from ppl.errors import PPLError, render
    from ppl.model import Model
    from ppl.source import Source

    name = line.strip()
    if not name:
        raise UsageError(f"%%ppl needs a name for the model; {_MAGIC_USAGE}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"%%ppl: '{name}' is not a valid Python name; {_MAGIC_USAGE}")
    try:
        # A leading newline stands for the %%ppl line, so error line numbers match the cell.
        model = Model(Source("\n" + cell, f"<%%ppl {name}>"))
    except PPLError as exc:
        raise UsageError(exc.render()) from None
    for diagnostic in model.warnings:
        print(render(diagnostic, model.source), file=sys.stderr)
    namespace[name] = model
    return model


def fit_html(fit: Any) -> str | None:
    """A ppl fit as HTML: summary table, warnings, then the DataTree's own HTML view. None for
    DataTrees that ppl did not make (they keep their usual display)."""
    if getattr(fit, "attrs", {}).get("inference_library") != "ppl" or \
            "posterior" not in fit.children:
        return fit._repr_html_() if hasattr(fit, "_repr_html_") else None
    from ppl.summary import drawn_after_sampling, fit_warnings, summary_rows

    columns = [("mean", "mean"), ("sd", "sd"), ("hdi 3%", "hdi94_lb"), ("hdi 97%", "hdi94_ub"),
               ("ess bulk", "ess_bulk"), ("ess tail", "ess_tail"), ("r_hat", "r_hat")]
    try:
        rows = summary_rows(fit)
        notes = fit_warnings(fit) if "sample_stats" in fit.children else []
    except Exception:  # a display hook must never fail: fall back to ArviZ's view
        return fit._repr_html_()
    after = drawn_after_sampling(fit)
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in columns)
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}</td>"
        + "".join(f"<td>{_cell(r.get(key))}</td>" for _, key in columns) + "</tr>"
        for r in rows)
    backend = html.escape(str(fit.attrs.get("backend", "")))
    parts = [f'<div class="ppl-fit"><b>ppl fit</b> ({backend})',
             f"<table><tr><th>parameter</th>{head}</tr>{body}</table>"]
    if after:
        parts.append("<p><i>drawn after sampling (not in the R-hat/ESS warnings): "
                     f"{html.escape(', '.join(sorted(after)))}</i></p>")
    parts += [f'<p style="color:#b35900">warning: {html.escape(n)}</p>' for n in notes]
    parts.append(f"<details><summary>groups</summary>{fit._repr_html_()}</details></div>")
    return "".join(parts)


def _cell(value: Any) -> str:
    if value is None or value != value:  # missing or NaN
        return ""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def register_fit_display(ipython: Any) -> None:
    """Show ppl fits with :func:`fit_html` in ``ipython``'s rich display."""
    from xarray import DataTree

    ipython.display_formatter.formatters["text/html"].for_type(DataTree, fit_html)


def register_in_running_ipython() -> None:
    """Called when ppl is imported: register the fit display if a notebook is running."""
    shell_module = sys.modules.get("IPython")
    shell = shell_module.get_ipython() if shell_module is not None else None
    if shell is not None:
        try:
            register_fit_display(shell)
        except Exception:  # never let display set-up break an import
            pass


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ppl``: register the ``%%ppl NAME`` cell magic in ``ipython`` (and the fit
    display)."""
    register_fit_display(ipython)

    def ppl(line: str, cell: str) -> None:
        """%%ppl NAME -- define a ppl model from the cell and bind it to NAME."""
        ppl_cell_magic(line, cell, ipython.user_ns)

    ipython.register_magic_function(ppl, magic_kind="cell", magic_name="ppl")
