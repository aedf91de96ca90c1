"""The types pass, recursions: quantities whose elements use their own earlier elements.

A definition ``x[t] = f(x[t - 1], ...) for t in 1:T`` compiles to a scan, so every use of ``x``
inside it must be an earlier element at a constant lag (``x[t - k]``, k >= 1); its element type
is found by typing the body with ``x`` assumed first real, then of the type found. A discrete
Markov chain ``z[t] ~ categorical(Theta[z[t - 1]]) for t in 1:T`` is summed out by the forward
algorithm, so its distribution may use only the previous state (lag 1).
"""

from __future__ import annotations

from ppl.frontend import ast
from ppl.frontend.expressions import ExpressionTyper
from ppl.frontend.types import ERROR, INT, REAL, Dim, Type


class RecursionTyper(ExpressionTyper):
    """The types of recursive definitions and Markov chains of discrete states."""

    def recursion(self, d: ast.Define, length: Dim, dim_name: str | None) -> Type:
        """``x[t] = f(x[t - 1], ...) for t in 1:T``: each element may use earlier ones (it
        compiles to a scan). Every use must be ``x[t - k]`` with a constant k >= 1."""
        var = d.comprehension.var
        bad = [use for use in ast.self_references(d.expr, d.name)
               if ast.recursion_lag(use, var) is None]
        for use in bad:
            self.err(f"'{d.name}' refers to itself here in a way that is not well-founded",
                     use.span, f"inside its own definition, use only earlier elements: "
                     f"{d.name}[{var} - 1], {d.name}[{var} - 2], ... (a constant lag >= 1)")
        if bad:
            return ERROR
        item = REAL
        for _ in range(2):  # the element type may be a vector: settle it in a second pass
            self.types[d.name] = Type(item.elem, (length,) + item.shape,
                                      (dim_name,) + item.dim_names)
            found = self.expr(d.expr, {var: INT})
            if found.is_error or found == item:
                break
            item = found.with_elem("real")
        self.types.pop(d.name, None)
        return found if found.is_error else found.with_elem("real")

    def markov_chain(self, s: ast.Sample, length: Dim) -> bool:
        """A discrete chain may use only its previous state ``z[t - 1]`` (the forward
        algorithm sums it out); while its arguments are checked, ``z`` is an int array."""
        var = s.comprehension.var
        bad = [u for a in s.dist.args for u in ast.self_references(a.value, s.name)
               if ast.recursion_lag(u, var) != 1]
        for use in bad:
            self.err(f"'{s.name}' is a Markov chain of discrete states, so its distribution may "
                     f"use only the previous state {s.name}[{var} - 1]", use.span,
                     f"write {s.name}[{var} - 1]; longer memories are not summed out "
                     "automatically")
        self.types[s.name] = Type("int", (length,), (self.range_dim_name(s.comprehension),))
        return not bad
