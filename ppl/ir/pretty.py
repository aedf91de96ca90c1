"""A stable, readable text dump of the graph IR (``ppl ir model.ppl``); golden tests use it."""

from __future__ import annotations

from ppl.frontend import pretty as src
from ppl.ir.graph import Graph, Node


def _definition(node: Node) -> str:
    if node.factor is not None:
        return f"+= {src.expr(node.factor.expr)}"
    sym = node.symbol
    if sym.define is not None:
        d = sym.define
        comp = f" for {d.comprehension.var} in {src.expr(d.comprehension.lo)}:" \
               f"{src.expr(d.comprehension.hi)}" if d.comprehension else ""
        lhs = f"[{d.index_var}]" if d.index_var else ""
        text = f"{lhs}= {src.expr(d.expr)}{comp}"
        if sym.sample is None:
            return text
        s = sym.sample  # an observed definition: show its distribution too
        comp = f" for {s.comprehension.var} in {src.expr(s.comprehension.lo)}:" \
               f"{src.expr(s.comprehension.hi)}" if s.comprehension else ""
        return f"{text}; {f'[{s.index_var}]' if s.index_var else ''}~ {src.expr(s.dist)}{comp}"
    if sym.sample is not None:
        s = sym.sample
        comp = f" for {s.comprehension.var} in {src.expr(s.comprehension.lo)}:" \
               f"{src.expr(s.comprehension.hi)}" if s.comprehension else ""
        lhs = f"[{s.index_var}]" if s.index_var else ""
        return f"{lhs}~ {src.expr(s.dist)}{comp}"
    if node.kind == "latent":
        return "~ flat (no prior given)"
    return ""


def dump(graph: Graph) -> str:
    """One line per node: kind, name, type, bounds, definition and parents."""
    lines = [f"function         {src.statement(f)[len('function '):]}" for f in graph.functions]
    for node in graph.nodes:
        bounds = src.bounds(node.declared_bounds)
        head = f"{node.kind:<16} {node.name} : {node.type.describe()}{bounds}"
        body = _definition(node)
        line = f"{head}  {body}" if body else head
        if node.parents:
            line += f"    <- {', '.join(node.parents)}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    """The graph in Graphviz dot format, node kinds drawn distinctly."""
    shapes = {"data": "box", "transformed_data": "box", "latent": "ellipse",
              "observed": "ellipse", "deterministic": "diamond", "factor": "octagon"}
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
