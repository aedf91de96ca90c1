"""Model graphs drawn with Graphviz (``ppl graph``, ``Model.graph()``, Jupyter display).

Data flows one way: graph IR -> :func:`digraph` (a ``graphviz.Digraph``) -> DOT source (pure
Python, no Graphviz programs needed) or SVG / PNG / PDF (needs the ``dot`` program).

Drawing conventions:

- data: a box; transformed data (computed from the data alone): a dashed box;
- latent: an ellipse; observed: a grey, filled ellipse;
- deterministic (computed from parameters): a dashed ellipse; ``target +=`` factor: an octagon;
- plates: nodes whose first dimension has the same name (``J`` for ``real[J]``) are drawn in
  one box labelled with that name, and with its size (``J = 8``) when the data is known;
- arrows go from a quantity to the quantities that use it; a grey dashed arrow marks a size
  that is used only to shape the node (``J`` for ``theta_raw: vector[J]``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import graphviz

from ppl.errors import PPLError, error
from ppl.files import write_atomically
from ppl.frontend import pretty as src
from ppl.frontend.ast import free_names
from ppl.ir.graph import Graph, Node
from ppl.ir.pretty import definition
from ppl.source import Source

#: Graphviz node attributes per node kind.
NODE_STYLES: dict[str, dict[str, str]] = {
    "data": {"shape": "box"},
    "transformed_data": {"shape": "box", "style": "dashed"},
    "latent": {"shape": "ellipse"},
    "discrete": {"shape": "ellipse", "peripheries": "2"},  # summed out, recovered after
    "observed": {"shape": "ellipse", "style": "filled", "fillcolor": "#d0d0d0"},
    "deterministic": {"shape": "ellipse", "style": "dashed"},
    "factor": {"shape": "octagon"},
    "generated": {"shape": "ellipse", "style": "dotted"},
}

#: Output formats by file suffix; ``None`` means DOT source, written without Graphviz.
FORMATS: dict[str, str | None] = {"dot": None, "gv": None, "svg": "svg", "png": "png",
                                  "pdf": "pdf"}

_MAX_LABEL = 40  # characters of a definition shown under a node's name


class RenderError(PPLError):
    """The model graph could not be drawn (Graphviz missing or failing, unknown format)."""


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 3].rstrip() + "..."


def _label(node: Node) -> str:
    """The node's label: name, type (with bounds) and definition, one per line."""
    if node.kind == "factor":
        lines = [node.name, "target " + definition(node)]
    else:
        kind = f"{node.type.describe()}{src.bounds(node.declared_bounds)}"
        lines = [node.name, kind, definition(node, node.name, ranges=False)]
    return "\\n".join(graphviz.escape(_short(line)) for line in lines if line)


def _expression_names(node: Node) -> set[str]:
    """The names a node's definition refers to (not its type): used to tell size arrows."""
    sym = node.symbol
    if node.factor is not None:
        return {n.id for n in free_names(node.factor.expr)}
    if sym is None:
        return set()
    names: set[str] = set()
    for holder in (sym.sample, sym.define):
        if holder is None:
            continue
        value = holder.dist if hasattr(holder, "dist") else holder.expr
        c = holder.comprehension
        bound = frozenset(c.variables if c is not None else ())
        names |= {n.id for n in free_names(value, bound)}
        for r in c.ranges if c is not None else ():
            names |= {n.id for n in free_names(r.lo)} | {n.id for n in free_names(r.hi)}
    return names


def plate_of(node: Node) -> str | None:
    """The plate a node belongs to: the name of its first dimension (None for scalars and for
    a first dimension whose size has no name)."""
    if node.type.is_error or node.type.rank == 0:
        return None
    return node.type.dim_names[0]  # None for a size without a name, such as 'N - 1'


def plates(graph: Graph) -> dict[str, list[Node]]:
    """The graph's plates, ``{dimension name: [node, ...]}``, in order of first appearance."""
    groups: dict[str, list[Node]] = {}
    for node in graph.nodes:
        plate = plate_of(node)
        if plate is not None:
            groups.setdefault(plate, []).append(node)
    return groups


def _plate_label(name: str, nodes: list[Node]) -> str:
    sizes = {n.type.shape[0] for n in nodes if isinstance(n.type.shape[0], int)}
    if len(sizes) == 1:
        return f"{name} = {sizes.pop()}"
    return name


def digraph(graph: Graph, name: str = "model") -> graphviz.Digraph:
    """The model graph as a ``graphviz.Digraph`` (see the module docstring for the drawing)."""
    dot = graphviz.Digraph(name=name, comment=graph.source.name)
    dot.attr(rankdir="TB", fontname="Helvetica", fontsize="11")
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", arrowsize="0.7")

    def add(target: graphviz.Digraph, node: Node) -> None:
        target.node(node.name, label=_label(node), **NODE_STYLES[node.kind])

    grouped = plates(graph)
    in_plate = {n.name for members in grouped.values() for n in members}
    for node in graph.nodes:
        if node.name not in in_plate:
            add(dot, node)
    for i, (plate, members) in enumerate(grouped.items()):
        with dot.subgraph(name=f"cluster_{i}") as cluster:
            cluster.attr(label=graphviz.escape(_plate_label(plate, members)), style="rounded",
                         labeljust="r", labelloc="b", color="#606060")
            for node in members:
                add(cluster, node)

    known = {n.name for n in graph.nodes}
    for node in graph.nodes:
        used = _expression_names(node)
        for parent in node.parents:
            if parent not in known:
                continue
            if parent in node.type.dim_names and parent not in used:
                dot.edge(parent, node.name, style="dashed", color="#909090")
            else:
                dot.edge(parent, node.name)
    return dot


def to_dot(graph: Graph) -> str:
    """The model graph as DOT source (no Graphviz programs needed)."""
    return digraph(graph).source


def _missing_dot(what: str, name: str) -> RenderError:
    return RenderError([error(
        f"cannot draw the model graph as {what}: the Graphviz program 'dot' is not installed",
        hint="install Graphviz (`apt-get install graphviz`, `brew install graphviz` or "
             "`conda install graphviz`), or write the graph as DOT source "
             "(`ppl graph MODEL -o model.dot`), which needs no Graphviz programs")],
        Source("", name))


def render_bytes(graph: Graph, fmt: str, name: str = "<graph>") -> bytes:
    """The graph drawn by Graphviz's ``dot`` in format ``fmt`` (``svg``, ``png``, ``pdf``).

    Raises :class:`RenderError` (a :class:`ppl.PPLError`) when ``dot`` is not installed.
    """
    try:
        return digraph(graph).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise _missing_dot(fmt.upper(), name) from None
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip() if exc.stderr else ""
        raise RenderError([error(f"Graphviz could not draw the model graph: {detail}",
                                 hint="write the graph as DOT source (.dot) instead")],
                          Source("", name)) from None


def to_svg(graph: Graph) -> str:
    """The graph as SVG text; raises :class:`RenderError` when Graphviz is missing."""
    return render_bytes(graph, "svg").decode("utf-8")


def write(graph: Graph, path: str | Path) -> Path:
    """Write the graph to ``path``; its suffix picks the format (``.svg``, ``.png``, ``.pdf``,
    or ``.dot`` / ``.gv`` for DOT source, which needs no Graphviz programs)."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise RenderError([error(
            f"cannot write a model graph as '{path.suffix or path.name}'",
            hint="name the output file with one of the suffixes "
                 + ", ".join(f".{s}" for s in FORMATS))], Source("", str(path)))
    fmt = FORMATS[suffix]
    if fmt is None:
        content: bytes = to_dot(graph).encode("utf-8")
    else:
        content = render_bytes(graph, fmt, str(path))
    try:
        write_atomically(path, lambda target: target.write_bytes(content))
    except OSError as exc:
        raise RenderError([error(f"cannot write the model graph: {exc.strerror}",
                                 hint="check the output path")], Source("", str(path))) from None
    return path
