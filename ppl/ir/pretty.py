"""A stable, readable text dump of the graph IR (``ppl ir model.ppl``); golden tests use it."""

from __future__ import annotations

from ppl.frontend import pretty as src
from ppl.ir.graph import Graph, Node


def _range(c) -> str:
    if not c:
        return ""
    return " for " + ", ".join(f"{r.var} in {src.expr(r.lo)}:{src.expr(r.hi)}" for r in c.ranges)


def definition(node: Node, name: str = "", ranges: bool = True) -> str:
    """A node's right-hand side (``= expr``, ``~ dist(..)``, ``+= expr``), optionally led by
    ``name`` and followed by its range; shared by the text dump and the drawn graph."""
    if node.factor is not None:
        return f"+= {src.expr(node.factor.expr)}"
    sym = node.symbol
    parts = []
    for stmt, op, rhs in ((sym.define, "=", sym.define and sym.define.expr),
                          (sym.sample, "~", sym.sample and sym.sample.dist)):
        if stmt is None:
            continue
        index = ", ".join((stmt.index_var, *stmt.inner_vars)) if stmt.index_var else ""
        lhs = f"{name}[{index}] " if index and name else (f"[{index}]" if index else "")
        comp = _range(stmt.comprehension) if ranges else ""
        cut = src.truncation(getattr(stmt, "truncation", None))
        parts.append(f"{lhs}{op} {src.expr(rhs)}{cut}{comp}")
    if parts:
        return "; ".join(parts)  # an observed definition shows its distribution too
    return "~ flat (no prior given)" if node.kind == "latent" else ""


def dump(graph: Graph) -> str:
    """One line per node: kind, name, type, bounds, definition and parents."""
    lines = [f"function         {src.statement(f)[len('function '):]}" for f in graph.functions]
    for node in graph.nodes:
        bounds = src.bounds(node.declared_bounds)
        head = f"{node.kind:<16} {node.name} : {node.type.describe()}{bounds}"
        body = definition(node)
        line = f"{head}  {body}" if body else head
        if node.parents:
            line += f"    <- {', '.join(node.parents)}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    """The graph in Graphviz dot format, node kinds drawn distinctly."""
    shapes = {"data": "box", "transformed_data": "box", "latent": "ellipse",
              "discrete": "doublecircle", "observed": "ellipse", "deterministic": "diamond",
              "factor": "octagon", "generated": "diamond"}
    lines = ["digraph model {"]
    for node in graph.nodes:
        style = ', style=filled, fillcolor="#d0d0d0"' if node.kind == "observed" else ""
        lines.append(f'  "{node.name}" [shape={shapes[node.kind]}, '
                     f'label="{node.name}\\n{node.type.describe()}"{style}];')
    for node in graph.nodes:
        for parent in node.parents:
            lines.append(f'  "{parent}" -> "{node.name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
