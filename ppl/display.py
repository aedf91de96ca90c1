"""How a model shows itself in Jupyter: the rich-display methods mixed into :class:`ppl.Model`.

A model shown in a notebook is drawn as its graph (SVG, when Graphviz's ``dot`` program is
installed) or, without Graphviz, as the text form of its graph IR in a ``<pre>`` block. The rest
of the notebook support (the ``%%ppl`` magic, the display of fits) is :mod:`ppl.jupyter`.
"""

from __future__ import annotations

import html
from typing import Any


class GraphDisplay:
    """Rich display of a model in Jupyter: ``_repr_svg_`` and ``_repr_html_``.

    The class using it provides ``graph_ir()`` (the graph IR without data) and ``ir()`` (its
    text dump), as :class:`ppl.Model` does.
    """

    def _graph_svg(self) -> str | None:
        """The SVG drawing of the model graph, or None when Graphviz cannot draw it."""
        cache = self.__dict__.setdefault("_ppl_display_cache", {})
        if "svg" not in cache:
            try:
                from ppl.ir.render import to_svg

                svg = to_svg(self.graph_ir())  # type: ignore[attr-defined]
                cache["svg"] = svg[svg.find("<svg"):] if "<svg" in svg else svg
            except Exception:  # a display hook must never fail: fall back to text
                cache["svg"] = None
        return cache["svg"]

    def _repr_svg_(self) -> str | None:
        """The model graph as SVG (None, so that Jupyter uses another form, without Graphviz)."""
        return self._graph_svg()

    def _repr_html_(self) -> str:
        """The model graph as inline SVG, or the graph IR as text when Graphviz is missing."""
        svg = self._graph_svg()
        if svg is not None:
            return f'<div class="ppl-model">{svg}</div>'
        return text_html(self)


def text_html(model: Any) -> str:
    """The text form of a model's graph IR as an HTML ``<pre>`` block."""
    name = html.escape(str(model.source.name))
    body = html.escape(model.ir())
    return (f'<pre class="ppl-model" title="ppl model {name}">'
            f"# ppl model {name}\n{body}</pre>")
