"""Pass 1 of the checker: names and scopes.

From the parsed program this pass builds a :class:`Scope`: the statements grouped by the name
they declare (a name may be data *and* have a distribution, say), the ``target +=`` factors,
the user-defined functions, the names each quantity depends on, and an evaluation order
(topological, keeping source order where the dependencies allow). It reports reserved or
doubly declared names, unknown names and functions (with a suggestion), calls of a
distribution as a function, uses of generated quantities by the model, function bodies that
use more than their arguments, and dependency cycles. Types are not looked at here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ppl.errors import Diagnostic, error
from ppl.frontend import ast
from ppl.frontend.joint import joint_groups
from ppl.frontend.pieces import element_errors, family_error, is_piece, merge
from ppl.frontend.symbols import is_latent_recursion, is_markov_chain
from ppl.library.cdfs import cdf_function_names, cdf_spec
from ppl.library.distributions import DISTRIBUTIONS, density_spec
from ppl.library.functions import FUNCTIONS
from ppl.library.ode import ODE_SOLVERS
from ppl.source import Span

RESERVED = {"target", "data", "param", "for", "in", "int", "real", "vector", "matrix", "if", "dim",
            "then", "else", "simplex", "ordered", "positive_ordered", "unit_vector",
            "cholesky_factor_corr", "cholesky_factor_cov", "corr_matrix", "cov_matrix"}

# The role of each kind of statement in the entry of its name.
_SLOTS = {ast.DataDecl: "data", ast.ParamDecl: "param", ast.Sample: "sample",
          ast.Define: "define"}


@dataclass(frozen=True)
class Scope:
    """The program's names: ``entries[name]`` maps a role (``data``, ``param``, ``sample``,
    ``define``, ``generated``) to the statement; ``deps[name]`` are the names its value needs
    (for ordering, observed data is read from the data and orders nothing); ``order`` is an
    evaluation order; ``observable`` the data declarations of names that also have a
    distribution; ``typed_functions`` the functions whose bodies are clean enough to type."""

    entries: dict[str, dict[str, ast.Statement]]
    factors: tuple[ast.TargetIncrement, ...]
    functions: dict[str, ast.FunctionDef]
    deps: dict[str, frozenset[str]]
    factor_deps: tuple[frozenset[str], ...]
    order: tuple[str, ...]
    observable: dict[str, ast.DataDecl]
    typed_functions: tuple[str, ...]
    dims: frozenset[str]
    errors: tuple[Diagnostic, ...] = field(default=())
    # Each member of a joint recursion (see joint.py) with its group, in evaluation order.
    joint: dict[str, tuple[str, ...]] = field(default_factory=dict)


def suggest(name: str, candidates) -> str:
    """``did you mean 'x'?`` for the closest of ``candidates``, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def statement_parts(entry: dict) -> list[tuple]:
    """The AST pieces a symbol's value depends on, each with the range variables bound there."""
    out = []
    for st in entry.values():
        if isinstance(st, (ast.DataDecl, ast.ParamDecl)):
            out += [(st.type, frozenset()), (st.bounds, frozenset())]
        elif isinstance(st, (ast.Sample, ast.Define)):
            c = st.comprehension
            bound = frozenset(c.variables) if c else frozenset()
            if isinstance(st, ast.Sample):
                out += [(a.value, bound) for a in st.dist.args]
                out += [(st.type, frozenset()), (st.bounds, frozenset()),
                        (st.truncation, bound)]
            else:
                out.append((st.expr, bound))
            out += [(e, frozenset()) for r in (c.ranges if c else ()) for e in (r.lo, r.hi)]
    return out


def resolve_names(program: ast.Program) -> Scope:
    """Run the names pass over ``program``; problems are in ``Scope.errors``."""
    return _Names(program).run()


class _Names:
    def __init__(self, program: ast.Program):
        self.program = program
        self.errors: list[Diagnostic] = []
        self.functions: dict[str, ast.FunctionDef] = {}

    def err(self, message: str, span: Span, hint: str = "") -> None:
        self.errors.append(error(message, span, hint))

    def run(self) -> Scope:
        entries, factors = self.collect()
        self.no_recursive_functions()
        typed_functions = self.function_scopes()
        deps, factor_deps = self.dependencies(entries, factors)
        # Using observed data (y[t - 1] in a recursion for y's own scale, say) reads the data
        # values, which exist from the start: such uses do not order the statements.
        observable = {n for n, e in entries.items() if "data" in e and "sample" in e}
        ordering = {n: {d for d in ds if d not in observable or "sample" in entries[n]
                        and n == d} for n, ds in deps.items()}
        for n in observable:
            ordering[n] = deps[n]
        joint = {m: group for group in joint_groups(entries, deps) for m in group}
        for group in set(joint.values()):
            # One scan computes the whole group where its first member is in the order: it
            # needs what every member needs from outside, and only same-step references order
            # the members among themselves.
            outside = {d for m in group for d in ordering[m] if d not in group}
            for i, m in enumerate(group):
                ordering[m] = outside | ({group[i - 1]} if i else set())
        order = self.order(entries, ordering)
        dims = frozenset(st.name for st in self.program.statements
                         if isinstance(st, ast.DataDecl) and st.type.kind == "dim")
        return Scope(entries, tuple(factors), self.functions,
                     {n: frozenset(d) for n, d in deps.items()}, tuple(factor_deps),
                     tuple(order), {n: entries[n]["data"] for n in observable},
                     typed_functions, dims, tuple(self.errors), joint)

    # -- collection ----------------------------------------------------------------------
    def collect(self):
        entries: dict[str, dict[str, ast.Statement]] = {}
        factors = []
        for st in self.program.statements:
            if isinstance(st, ast.TargetIncrement):
                factors.append(st)
                continue
            if isinstance(st, ast.FunctionDef):
                self.declare_function(st)
                continue
            slot = "generated" if getattr(st, "generated", False) else _SLOTS[type(st)]
            if st.name in RESERVED:
                self.err(f"'{st.name}' is a reserved word", st.name_span, "choose another name")
                continue
            problems = element_errors(st)
            if problems:
                self.errors += problems
                continue
            entry = entries.setdefault(st.name, {})
            previous = entry.get(slot)
            if previous is not None and is_piece(st) and type(st) is type(previous) and (
                    is_piece(previous) or getattr(previous, "pieces", ())):
                # x[1] = ... with x[t] = ... for t in 2:T: one statement in pieces
                pieces = [*(previous.pieces or (previous,)), st]
                problem = family_error(pieces) if isinstance(st, ast.Sample) else None
                if problem is not None:
                    self.errors.append(problem)
                    continue
                entry[slot] = merge(pieces)
                continue
            if previous is not None:
                what = {"data": "declared as data", "param": "declared as a parameter",
                        "sample": "given a distribution", "define": "defined",
                        "generated": "a generated quantity"}[slot]
                hint = ("add the terms with `target += ...` instead of a second `~`"
                        if slot == "sample" else "remove one of the two statements or rename one")
                self.err(f"'{st.name}' is already {what} on line {previous.span.line}",
                         st.name_span, hint)
                continue
            clash = _clash(slot, entry)
            if clash is not None:
                self.err(
                    f"'{st.name}' is already used on line {clash.span.line}; a name is declared "
                    "once and is either data, a parameter, or a definition",
                    st.name_span, "rename one of them")
                continue
            if slot == "sample" and st.type is not None and "param" in entry:
                self.err(f"'{st.name}' is declared on line {entry['param'].span.line} and given "
                         "a type again here", st.name_span,
                         "give the type in one place: drop the annotation or the declaration")
                continue
            entry[slot] = merge([st]) if getattr(st, "element", None) is not None else st
        return entries, factors

    def declare_function(self, f: ast.FunctionDef) -> None:
        if f.name in self.functions or f.name in FUNCTIONS or f.name in DISTRIBUTIONS \
                or f.name in RESERVED or f.name in ODE_SOLVERS:
            self.err(f"a function named '{f.name}' already exists", f.name_span,
                     "choose another name")
            return
        self.functions[f.name] = f

    def no_recursive_functions(self) -> None:
        """A function may not call itself, directly or through others: its evaluation, inlined
        at each call, would never end."""
        callees = {name: [c.func for c in ast.calls(f.body) if c.func in self.functions]
                   for name, f in self.functions.items()}
        for name, f in self.functions.items():
            path = _call_path(name, callees)
            if path is None:
                continue
            through = "" if len(path) == 2 else \
                " through " + ", ".join(f"{p}()" for p in path[1:-1])
            self.err(f"{name}() calls itself{through}; a function cannot be recursive",
                     f.name_span, "write the recursion as a definition over a range, which may "
                     "use earlier elements: x[t] = ... x[t - 1] ... for t in 1:T")

    def function_scopes(self) -> tuple[str, ...]:
        """A body may use only its arguments (functions are pure). Returns the functions whose
        bodies the types pass should check: those reached before any error."""
        typed = []
        for f in self.functions.values():
            arguments = frozenset(n for n, _ in f.params)
            for n in ast.free_names(f.body, arguments):
                if n.id not in self.functions:
                    self.err(f"'{n.id}' is not an argument of {f.name}()", n.span,
                             "a function sees only its arguments; pass the value in")
            if not self.errors:
                typed.append(f.name)
        return tuple(typed)

    # -- dependencies and order ----------------------------------------------------------
    def dependencies(self, entries, factors):
        known = set(entries)
        deps: dict[str, set[str]] = {}
        reported: set[tuple] = set()

        def visit(node, bound):
            found = set()
            for n in ast.free_names(node, bound):
                if n.id in self.functions:
                    continue
                if n.id in known:
                    found.add(n.id)
                elif (n.id, n.span.line, n.span.column) not in reported:
                    reported.add((n.id, n.span.line, n.span.column))
                    hint = (suggest(n.id, known)
                            or "declare it with `data` or give it a distribution")
                    if n.id in FUNCTIONS or n.id in DISTRIBUTIONS:
                        hint = f"'{n.id}' is a function; call it with arguments: {n.id}(...)"
                    self.err(f"unknown name '{n.id}'", n.span, hint)
            for c in ast.calls(node):
                self.check_callee(c)
            return found

        for name, entry in entries.items():
            deps[name] = set()
            for node, bound in statement_parts(entry):
                deps[name] |= visit(node, bound)
            definition = entry.get("define") or entry.get("generated")
            recursive = isinstance(definition, ast.Define) and definition.comprehension is not None
            if recursive or ("sample" in entry and "data" in entry) or is_markov_chain(entry) \
                    or is_latent_recursion(entry):
                deps[name].discard(name)  # earlier elements of itself (checked later)
        factor_deps = [frozenset(visit(f.expr, frozenset())) for f in factors]
        self.no_model_use_of_generated(entries, factors)
        return deps, factor_deps

    def no_model_use_of_generated(self, entries, factors) -> None:
        """Generated quantities are computed after sampling, so the model cannot use them."""
        generated = {n for n, e in entries.items() if "generated" in e}
        pieces = [part for e in entries.values() if "generated" not in e
                  for part in statement_parts(e)] + [(f.expr, frozenset()) for f in factors]
        for node, bound in pieces:
            for use in ast.free_names(node, bound):
                if use.id in generated:
                    self.err(f"'{use.id}' is a generated quantity, computed after sampling, so "
                             "the model cannot depend on it", use.span,
                             f"drop `generated` from the statement of '{use.id}' if the model "
                             "needs it, or move this use into a generated quantity")

    def check_callee(self, call: ast.Call):
        if call.func in FUNCTIONS or density_spec(call.func) is not None \
                or cdf_spec(call.func) is not None or call.func in self.functions \
                or call.func in ODE_SOLVERS:
            return
        if call.func in DISTRIBUTIONS:
            self.err(f"'{call.func}' is a distribution, not a function", call.func_span,
                     f"a distribution goes on the right of '~': write `x ~ {call.func}(...)` to "
                     "give a quantity x this distribution")
            return
        self.err(f"unknown function '{call.func}'", call.func_span,
                 suggest(call.func, [*FUNCTIONS, *cdf_function_names()])
                 or "see the function reference for what exists")

    def order(self, entries, deps) -> list[str]:
        """Topological order, keeping source order where the dependencies allow it. A depth
        first search with its own stack: a chain of thousands of definitions is fine."""
        first_line = {n: min(s.span.line for s in e.values()) for n, e in entries.items()}
        done: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: ordered
        for root in sorted(entries, key=lambda n: first_line[n]):
            if state.get(root):
                continue
            state[root] = 1
            path = [root]
            pending = [iter(sorted(deps[root], key=lambda n: first_line[n]))]
            while pending:
                name = next(pending[-1], None)
                if name is None:
                    pending.pop()
                    finished = path.pop()
                    state[finished] = 2
                    done.append(finished)
                elif state.get(name) == 1:
                    self.cycle(entries, path[path.index(name):] + [name])
                elif state.get(name) is None:
                    state[name] = 1
                    path.append(name)
                    pending.append(iter(sorted(deps[name], key=lambda n: first_line[n])))
        return done

    def cycle(self, entries, cycle: list[str]) -> None:
        st = next(iter(entries[cycle[0]].values()))
        self.err("these definitions depend on each other in a cycle: " + " -> ".join(cycle),
                 getattr(st, "name_span", st.span),
                 "a quantity cannot depend on itself; break the cycle")


def _clash(slot: str, entry: dict) -> ast.Statement | None:
    # A definition may also be observed (`log_y = log(y)`, `log_y ~ normal(...)`); the types
    # pass checks that it is computed from the data alone.
    allowed = {"data": {"sample"}, "param": {"sample"},
               "sample": {"data", "param", "define"}, "define": {"sample"},
               "generated": set()}[slot]
    for other, st in entry.items():
        if other not in allowed:
            return st
    return None


def _call_path(start: str, callees: dict[str, list[str]]) -> list[str] | None:
    """The shortest chain of calls ``start -> ... -> start``, or None (breadth first, so
    deep call graphs need no recursion here)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for caller in frontier:
            for callee in callees[caller]:
                if callee == start:
                    path = [caller]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if caller != start \
                        else [start, start]
                if callee not in previous:
                    previous[callee] = caller
                    following.append(callee)
        frontier = following
    return None
