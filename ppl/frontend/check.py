"""Checks: names, types, distributions, cycles and shapes, all before any JAX tracing.

``check(program, source, sizes)`` returns a :class:`CheckedModel` or raises one
:class:`ModelError` listing every independent problem found. ``sizes`` holds the values of the
model's integer data; without them, sizes stay symbolic (``J``) and only what can be decided
without the data is checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ppl.errors import Diagnostic, ModelError, error, warning
from ppl.frontend import ast, pretty
from ppl.frontend.types import ERROR, INT, REAL, Dim, Type, dims_equal, merge_names, same_shape
from ppl.library.distributions import DISTRIBUTIONS, DistributionSpec
from ppl.library.functions import ARITY, FUNCTIONS
from ppl.source import NO_SPAN, Source, Span

RESERVED = {"target", "data", "param", "for", "in", "int", "real", "vector", "matrix", "if", "dim",
            "then", "else", "simplex", "ordered", "positive_ordered", "unit_vector",
            "cholesky_factor_corr", "cholesky_factor_cov", "corr_matrix", "cov_matrix"}

# Constrained types: (rank of the value, NumPyro constraint name).
CONSTRAINED_TYPES = {
    "simplex": (1, "simplex"), "ordered": (1, "ordered_vector"),
    "positive_ordered": (1, "positive_ordered_vector"), "unit_vector": (1, "sphere"),
    "cholesky_factor_corr": (2, "corr_cholesky"), "cholesky_factor_cov": (2, "lower_cholesky"),
    "corr_matrix": (2, "corr_matrix"), "cov_matrix": (2, "positive_definite"),
}


@dataclass(frozen=True)
class Symbol:
    """A named quantity of the model.

    ``kind``: ``data`` (declared data, never sampled), ``observable`` (declared data that also has
    a distribution: observed when the data supplies it, simulated otherwise), ``latent`` (has a
    distribution or a ``param`` declaration, never data), ``defined`` (``name = expr``).
    """

    name: str
    kind: str
    type: Type
    span: Span
    data_decl: ast.DataDecl | None = None
    param_decl: ast.ParamDecl | None = None
    sample: ast.Sample | None = None
    define: ast.Define | None = None
    depends: frozenset[str] = frozenset()
    data_only: bool = False  # computable from the data alone (data, transformed data)


@dataclass(frozen=True)
class CheckedModel:
    program: ast.Program
    source: Source
    symbols: dict[str, Symbol]  # in dependency order
    factors: tuple[tuple[ast.TargetIncrement, frozenset[str]], ...]
    warnings: tuple[Diagnostic, ...]
    functions: tuple[ast.FunctionDef, ...] = ()

    def declared_data(self) -> list[str]:
        return [s.name for s in self.symbols.values() if s.data_decl is not None]


# ------------------------------------------------------------------------------ name walking


def free_names(node, bound: frozenset[str] = frozenset()) -> Iterator[ast.Name]:
    """Every name an expression (or call, slice, type) refers to, minus ``bound`` names."""
    if node is None:
        return
    if isinstance(node, ast.Name):
        if node.id not in bound:
            yield node
    elif isinstance(node, ast.Call):
        for a in node.args:
            yield from free_names(a.value, bound)
    elif isinstance(node, ast.Binary):
        yield from free_names(node.left, bound)
        yield from free_names(node.right, bound)
    elif isinstance(node, ast.Unary):
        yield from free_names(node.operand, bound)
    elif isinstance(node, ast.Index):
        yield from free_names(node.base, bound)
        for i in node.indices:
            yield from free_names(i, bound)
    elif isinstance(node, ast.Slice):
        yield from free_names(node.lo, bound)
        yield from free_names(node.hi, bound)
    elif isinstance(node, ast.ArrayLiteral):
        for i in node.items:
            yield from free_names(i, bound)
    elif isinstance(node, ast.Conditional):
        for part in (node.cond, node.then, node.orelse):
            yield from free_names(part, bound)
    elif isinstance(node, ast.ArrayComprehension):
        c = node.comprehension
        yield from free_names(c.lo, bound)
        yield from free_names(c.hi, bound)
        yield from free_names(node.item, bound | {c.var})
    elif isinstance(node, ast.TypeSpec):
        for d in node.dims:
            yield from free_names(d, bound)
    elif isinstance(node, ast.Bounds):
        yield from free_names(node.lower, bound)
        yield from free_names(node.upper, bound)


def _calls(node) -> Iterator[ast.Call]:
    if isinstance(node, ast.Call):
        yield node
        for a in node.args:
            yield from _calls(a.value)
    elif isinstance(node, ast.Binary):
        yield from _calls(node.left)
        yield from _calls(node.right)
    elif isinstance(node, ast.Unary):
        yield from _calls(node.operand)
    elif isinstance(node, ast.Index):
        yield from _calls(node.base)
        for i in node.indices:
            if isinstance(i, ast.Slice):
                yield from _calls(i.lo)
                yield from _calls(i.hi)
            else:
                yield from _calls(i)
    elif isinstance(node, ast.ArrayLiteral):
        for i in node.items:
            yield from _calls(i)
    elif isinstance(node, ast.Conditional):
        for part in (node.cond, node.then, node.orelse):
            yield from _calls(part)
    elif isinstance(node, ast.ArrayComprehension):
        yield from _calls(node.item)


def self_references(node, name: str) -> list:
    """Every ``name[...]`` (or bare ``name``) inside an expression."""
    found = []

    def walk(n):
        if isinstance(n, ast.Index) and isinstance(n.base, ast.Name) and n.base.id == name:
            found.append(n)
            for i in n.indices:
                walk(i)
            return
        if isinstance(n, ast.Name) and n.id == name:
            found.append(n)
        for child in ast.children(n):
            walk(child)

    walk(node)
    return found


def recursion_lag(use, var: str) -> int | None:
    """k for a use ``x[var - k]`` with an integer literal k >= 1, else None."""
    if not isinstance(use, ast.Index) or len(use.indices) != 1:
        return None
    index = use.indices[0]
    if (isinstance(index, ast.Binary) and index.op == "-" and isinstance(index.left, ast.Name)
            and index.left.id == var and isinstance(index.right, ast.Number)
            and isinstance(index.right.value, int) and index.right.value >= 1):
        return index.right.value
    return None


def density_spec(func: str) -> DistributionSpec | None:
    """The distribution of a log-density function such as ``normal_lpdf`` or ``poisson_lpmf``."""
    for suffix, discrete in (("_lpdf", False), ("_lpmf", True)):
        if func.endswith(suffix):
            spec = DISTRIBUTIONS.get(func[: -len(suffix)])
            if spec is not None and spec.discrete == discrete and spec.proper:
                return spec
    return None


# Discrete latents whose support is finite and small are summed out of the log-density.
FINITE_SUPPORTS = ("binary", "category")


def is_discrete_latent(sample: ast.Sample | None) -> bool:
    """Whether ``sample`` gives a (non-data) quantity a discrete distribution."""
    spec = DISTRIBUTIONS.get(sample.dist.func) if sample is not None else None
    return spec is not None and spec.discrete


def _is_markov_chain(entry: dict) -> bool:
    """``z[t] ~ categorical(... z[t - 1] ...) for t in 1:T``: a discrete latent whose
    distribution uses its own previous element."""
    s = entry.get("sample")
    return ("data" not in entry and s is not None and s.comprehension is not None
            and is_discrete_latent(s)
            and any(self_references(a.value, s.name) for a in s.dist.args))


def _element_uses(node, names: set[str], var: str | None) -> Iterator[tuple[ast.Expr, bool]]:
    """Each use of one of ``names`` in ``node``, and whether it is the element ``name[var]``."""
    if isinstance(node, ast.Index) and isinstance(node.base, ast.Name) and node.base.id in names:
        only = node.indices[0] if len(node.indices) == 1 else None
        yield node, var is not None and isinstance(only, ast.Name) and only.id == var
        return
    if isinstance(node, ast.Name):
        if node.id in names:
            yield node, False
        return
    if isinstance(node, ast.TypeSpec):
        children = list(node.dims)
    elif isinstance(node, ast.Bounds):
        children = [e for e in (node.lower, node.upper) if e is not None]
    else:
        children = ast.children(node)
    for child in children:
        yield from _element_uses(child, names, var)


# Constrained types whose set is bounded: a flat density there is a proper (uniform) prior.
_COMPACT_TYPES = {"simplex", "unit_vector", "cholesky_factor_corr", "corr_matrix"}


def _bounded(decl: ast.ParamDecl | None) -> bool:
    """Whether a declared parameter lives on a bounded set (``in [0, 1]``, ``simplex[K]``)."""
    if decl is None:
        return False
    b = decl.bounds
    return decl.type.kind in _COMPACT_TYPES or (
        b is not None and b.lower is not None and b.upper is not None)


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


# ------------------------------------------------------------------------------ the checker


class _Checker:
    def __init__(self, program: ast.Program, source: Source, sizes: Mapping[str, int] | None):
        self.program = program
        self.source = source
        self.sizes = dict(sizes or {})
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.types: dict[str, Type] = {}
        self.values: dict[str, int] = dict(self.sizes)  # known integer scalars
        self.observable_decls: dict[str, ast.DataDecl] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.dims = {st.name for st in program.statements
                     if isinstance(st, ast.DataDecl) and st.type.kind == "dim"}
        self.data_only: dict[str, bool] = {}

    def err(self, message: str, span: Span, hint: str = "") -> Type:
        self.errors.append(error(message, span, hint))
        return ERROR

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
            slot = {ast.DataDecl: "data", ast.ParamDecl: "param",
                    ast.Sample: "sample", ast.Define: "define"}[type(st)]
            if getattr(st, "generated", False):
                slot = "generated"
            if st.name in RESERVED:
                self.err(f"'{st.name}' is a reserved word", st.name_span, "choose another name")
                continue
            entry = entries.setdefault(st.name, {})
            previous = entry.get(slot)
            if previous is not None:
                what = {"data": "declared as data", "param": "declared as a parameter",
                        "sample": "given a distribution", "define": "defined",
                        "generated": "a generated quantity"}[slot]
                hint = ("add the terms with `target += ...` instead of a second `~`"
                        if slot == "sample" else "remove one of the two statements or rename one")
                self.err(f"'{st.name}' is already {what} on line {previous.span.line}",
                         st.name_span, hint)
                continue
            clash = self._clash(slot, entry)
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
            entry[slot] = st
        return entries, factors

    def declare_function(self, f: ast.FunctionDef) -> None:
        if f.name in self.functions or f.name in FUNCTIONS or f.name in DISTRIBUTIONS \
                or f.name in RESERVED or f.name == "ode_solve":
            self.err(f"a function named '{f.name}' already exists", f.name_span,
                     "choose another name")
            return
        self.functions[f.name] = f

    def check_function_bodies(self) -> None:
        """Each body may use only its arguments (functions are pure) and must return the
        declared type."""
        for f in self.functions.values():
            local = {n: self.signature_type(t) for n, t in f.params}
            for n in free_names(f.body, frozenset(local)):
                if n.id not in self.functions:
                    self.err(f"'{n.id}' is not an argument of {f.name}()", n.span,
                             "a function sees only its arguments; pass the value in")
            if self.errors:
                continue
            body = self.expr(f.body, local)
            want = self.signature_type(f.returns)
            if not body.is_error and not same_shape(body, want):
                self.err(f"{f.name}() is declared to return {want.describe()}, but its body is "
                         f"{body.describe()}", f.body.span, "make the body match the return type")

    def signature_type(self, spec: ast.TypeSpec) -> Type:
        """Types in signatures: sizes are literals or names (left symbolic)."""
        dims = tuple(d.value if isinstance(d, ast.Number) and d.is_int else pretty.expr(d)
                     for d in spec.dims)
        if spec.kind in CONSTRAINED_TYPES:
            dims = dims * CONSTRAINED_TYPES[spec.kind][0]
        return Type("int" if spec.kind == "int" else "real", dims)

    def user_call(self, e: ast.Call, f: ast.FunctionDef, local) -> Type:
        if len(e.args) != len(f.params) or any(a.name for a in e.args):
            return self.err(f"{f.name}() takes {len(f.params)} plain arguments, not "
                            f"{len(e.args)}", e.span,
                            f"its arguments are {', '.join(n for n, _ in f.params)}")
        for a, (pname, spec) in zip(e.args, f.params):
            t = self.expr(a.value, local)
            want = self.signature_type(spec)
            if t.is_error:
                return ERROR
            if not same_shape(t, want):
                return self.err(f"argument {pname} of {f.name}() must be {want.describe()}, "
                                f"not {t.describe()}", a.span)
        return self.signature_type(f.returns)

    def ode_call(self, e: ast.Call, local) -> Type:
        """``ode_solve(f, z0, t0, ts, theta, rtol = .., atol = .., max_steps = ..)``."""
        positional = [a for a in e.args if a.name is None]
        options = [a for a in e.args if a.name is not None]
        usage = "ode_solve(f, z0, t0, ts, theta) with f(t: real, z: vector[n], theta: ...)"
        if len(positional) != 5:
            return self.err(f"ode_solve takes 5 arguments (f, z0, t0, ts, theta), not "
                            f"{len(positional)}", e.span, usage)
        for a in options:
            if a.name not in ("rtol", "atol", "max_steps"):
                return self.err(f"ode_solve has no option '{a.name}'", a.span,
                                "its options are rtol, atol and max_steps")
        rhs = positional[0].value
        f = self.functions.get(rhs.id) if isinstance(rhs, ast.Name) else None
        if f is None:
            return self.err("the first argument of ode_solve must be the name of a function",
                            positional[0].span, usage)
        z0, t0, ts, theta = (self.expr(a.value, local) for a in positional[1:])
        if any(t.is_error for t in (z0, t0, ts, theta)):
            return ERROR
        if len(f.params) != 3:
            return self.err(f"the right-hand side {f.name}() must take (t, z, theta), but it "
                            f"takes {len(f.params)} arguments", positional[0].span, usage)
        want = [self.signature_type(t) for _, t in f.params]
        out = self.signature_type(f.returns)
        if want[0].rank != 0 or z0.rank != 1 or not same_shape(want[1], z0) \
                or not same_shape(out, z0) or not same_shape(want[2], theta):
            return self.err(
                f"{f.name}() does not fit this ode_solve: it takes "
                f"({', '.join(t.describe() for t in want)}) and returns {out.describe()}, "
                f"but the state is {z0.describe()} and theta is "
                f"{theta.describe()}", positional[0].span, usage)
        if t0.rank != 0 or ts.rank != 1:
            return self.err("ode_solve needs a scalar initial time and a vector of output "
                            "times", e.span, usage)
        return Type("real", (ts.shape[0], z0.shape[0]), (ts.dim_names[0], None))

    @staticmethod
    def _clash(slot: str, entry: dict) -> ast.Statement | None:
        # A definition may also be observed (`log_y = log(y)`, `log_y ~ normal(...)`);
        # symbol() checks that it is computed from the data alone.
        allowed = {"data": {"sample"}, "param": {"sample"},
                   "sample": {"data", "param", "define"}, "define": {"sample"},
                   "generated": set()}[slot]
        for other, st in entry.items():
            if other not in allowed:
                return st
        return None

    # -- dependencies and order ----------------------------------------------------------
    @staticmethod
    def parts(entry: dict) -> list:
        """The AST pieces a symbol's value depends on."""
        out = []
        for st in entry.values():
            if isinstance(st, (ast.DataDecl, ast.ParamDecl)):
                out += [(st.type, frozenset()), (st.bounds, frozenset())]
            elif isinstance(st, ast.Sample):
                bound = frozenset({st.comprehension.var}) if st.comprehension else frozenset()
                out += [(a.value, bound) for a in st.dist.args]
                out += [(st.type, frozenset()), (st.bounds, frozenset())]
                if st.comprehension:
                    out += [(st.comprehension.lo, frozenset()), (st.comprehension.hi, frozenset())]
            elif isinstance(st, ast.Define):
                bound = frozenset({st.comprehension.var}) if st.comprehension else frozenset()
                out.append((st.expr, bound))
                if st.comprehension:
                    out += [(st.comprehension.lo, frozenset()), (st.comprehension.hi, frozenset())]
        return out

    def dependencies(self, entries, factors):
        known = set(entries)
        deps: dict[str, set[str]] = {}
        reported: set[tuple] = set()

        def visit(node, bound):
            found = set()
            for n in free_names(node, bound):
                if n.id in self.functions:
                    continue
                if n.id in known:
                    found.add(n.id)
                elif (n.id, n.span.line, n.span.column) not in reported:
                    reported.add((n.id, n.span.line, n.span.column))
                    hint = (_suggest(n.id, known)
                            or "declare it with `data` or give it a distribution")
                    if n.id in FUNCTIONS or n.id in DISTRIBUTIONS:
                        hint = f"'{n.id}' is a function; call it with arguments: {n.id}(...)"
                    self.err(f"unknown name '{n.id}'", n.span, hint)
            for c in _calls(node):
                self.check_callee(c)
            return found

        for name, entry in entries.items():
            deps[name] = set()
            for node, bound in self.parts(entry):
                deps[name] |= visit(node, bound)
            definition = entry.get("define") or entry.get("generated")
            recursive = isinstance(definition, ast.Define) and definition.comprehension is not None
            if recursive or ("sample" in entry and "data" in entry) or _is_markov_chain(entry):
                deps[name].discard(name)  # earlier elements of itself (checked later)
        factor_deps = [frozenset(visit(f.expr, frozenset())) for f in factors]
        self.no_model_use_of_generated(entries, factors)
        return deps, factor_deps

    def no_model_use_of_generated(self, entries, factors) -> None:
        """Generated quantities are computed after sampling, so the model cannot use them."""
        generated = {n for n, e in entries.items() if "generated" in e}
        pieces = [(n, part) for n, e in entries.items() if "generated" not in e
                  for part in self.parts(e)] + [(None, (f.expr, frozenset())) for f in factors]
        for _, (node, bound) in pieces:
            for use in free_names(node, bound):
                if use.id in generated:
                    self.err(f"'{use.id}' is a generated quantity, computed after sampling, so "
                             "the model cannot depend on it", use.span,
                             f"drop `generated` from the statement of '{use.id}' if the model "
                             "needs it, or move this use into a generated quantity")

    def check_callee(self, call: ast.Call):
        if call.func in FUNCTIONS or density_spec(call.func) is not None \
                or call.func in self.functions or call.func == "ode_solve":
            return
        if call.func in DISTRIBUTIONS:
            self.err(f"'{call.func}' is a distribution, not a function", call.func_span,
                     f"a distribution goes on the right of '~': write `x ~ {call.func}(...)` to "
                     "give a quantity x this distribution")
            return
        self.err(f"unknown function '{call.func}'", call.func_span,
                 _suggest(call.func, FUNCTIONS) or "see the function reference for what exists")

    def order(self, entries, deps) -> list[str]:
        """Topological order, keeping source order where the dependencies allow it."""
        first_line = {n: min(s.span.line for s in e.values()) for n, e in entries.items()}
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(name, path):
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name):] + [name]
                st = next(iter(entries[name].values()))
                self.err("these definitions depend on each other in a cycle: "
                         + " -> ".join(cycle), getattr(st, "name_span", st.span),
                         "a quantity cannot depend on itself; break the cycle")
                return
            state[name] = 1
            for d in sorted(deps[name], key=lambda n: first_line[n]):
                visit(d, path + [name])
            state[name] = 2
            done.append(name)

        for name in sorted(entries, key=lambda n: first_line[n]):
            visit(name, [])
        return done

    # -- sizes -----------------------------------------------------------------------------
    def size(self, e: ast.Expr, what: str) -> Dim:
        t = self.expr(e, {})
        if t.is_error:
            return "?"
        if t.elem != "int" or t.rank != 0:
            self.err(f"{what} must be an integer, not {t.describe()}", e.span,
                     "use an int data value or an integer expression")
            return "?"
        if not self.is_data_only(e, {}):
            self.err(f"{what} must be known from the data, but it depends on a parameter",
                     e.span, "sizes are fixed before sampling; use int data")
            return "?"
        value = self.const(e)
        return value if value is not None else pretty.expr(e)

    def const(self, e: ast.Expr, bindings: dict[str, int] | None = None) -> int | None:
        """The value of an integer expression of the data, when the data is known
        (``bindings`` give values to range variables)."""
        if isinstance(e, ast.Number):
            return e.value if isinstance(e.value, int) else None
        if isinstance(e, ast.Name):
            if bindings and e.id in bindings:
                return bindings[e.id]
            return self.values.get(e.id)
        if isinstance(e, ast.Unary) and e.op == "-":
            v = self.const(e.operand, bindings)
            return None if v is None else -v
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "%"):
            a, b = self.const(e.left, bindings), self.const(e.right, bindings)
            if a is None or b is None:
                return None
            if e.op == "%":
                return a % b if b else None
            return {"+": a + b, "-": a - b, "*": a * b}[e.op]
        return None

    def is_data_only(self, e, local: dict) -> bool:
        return all(n.id in local or self.data_only.get(n.id, False) for n in free_names(e))

    def type_spec(self, spec: ast.TypeSpec) -> Type:
        if spec.kind in CONSTRAINED_TYPES:
            rank = CONSTRAINED_TYPES[spec.kind][0]
            size = self.size(spec.dims[0], "a size")
            name = pretty.expr(spec.dims[0]) if isinstance(spec.dims[0], ast.Name) else None
            return Type("real", (size,) * rank, (name,) * rank)
        dims = tuple(self.size(d, "a size") for d in spec.dims)
        names = tuple(pretty.expr(d) if isinstance(d, ast.Name) else None for d in spec.dims)
        for d, e in zip(dims, spec.dims):
            if isinstance(d, int) and d < 0:
                self.err(f"a size must not be negative; here it is {d}", e.span,
                         "check the data value that sets this size")
        elem = "int" if spec.kind in ("int", "dim") else "real"
        return Type(elem, dims, names)

    # -- expressions ---------------------------------------------------------------------
    def expr(self, e: ast.Expr, local: dict[str, Type]) -> Type:
        if isinstance(e, ast.Number):
            return INT if e.is_int else REAL
        if isinstance(e, ast.Name):
            if e.id in local:
                return local[e.id]
            if e.id not in self.types and e.id in self.observable_decls:
                return self.type_spec(self.observable_decls[e.id].type)
            return self.types.get(e.id, ERROR)
        if isinstance(e, ast.ArrayLiteral):
            items = [self.expr(i, local) for i in e.items]
            if any(t.is_error for t in items):
                return ERROR
            first = items[0]
            for item, node in zip(items[1:], e.items[1:]):
                if not same_shape(first, item):
                    return self.err(f"array elements must all have the same shape; this one is "
                                    f"{item.describe()}, the first is {first.describe()}",
                                    node.span)
            elem = "int" if all(t.elem == "int" for t in items) else "real"
            return Type(elem, (len(items),) + first.shape, (None,) + first.dim_names)
        if isinstance(e, ast.Conditional):
            return self.conditional(e, local)
        if isinstance(e, ast.ArrayComprehension):
            c = e.comprehension
            length = self.comprehension(c)
            item = self.expr(e.item, {**local, c.var: INT})
            if item.is_error:
                return ERROR
            return Type(item.elem, (length,) + item.shape,
                        (self.range_dim_name(c),) + item.dim_names)
        if isinstance(e, ast.Unary):
            t = self.expr(e.operand, local)
            return t.with_elem("int") if e.op == "!" and not t.is_error else t
        if isinstance(e, ast.Binary):
            return self.binary(e, local)
        if isinstance(e, ast.Call):
            return self.call(e, local)
        if isinstance(e, ast.Index):
            return self.index(e, local)
        raise TypeError(e)

    def broadcast_all(self, types: list[Type], args: list[ast.Argument], what: str) -> Type:
        """The real-valued shape of several arguments combined element-wise (strictly)."""
        shape = Type("real")
        for t, a in zip(types, args):
            merged = self.elementwise(shape, t, a.value, what)
            if merged is None:
                return ERROR
            shape = merged
        return shape.with_elem("real")

    def dim_clash(self, a: Type, b: Type) -> tuple[str, str] | None:
        """Two axes named after different declared dimensions (``data county: dim``)."""
        for x, y in zip(a.dim_names, b.dim_names):
            if x != y and x in self.dims and y in self.dims:
                return x, y
        return None

    def elementwise(self, a: Type, b: Type, node: ast.Expr, what: str) -> Type | None:
        """The shape of an element-wise combination; None (and an error) when it would need
        implicit broadcasting between two non-scalars."""
        if a.rank == 0:
            return b
        if b.rank == 0:
            return a
        clash = self.dim_clash(a, b)
        if clash:
            self.err(f"{what} combines values over different dimensions: the left is over "
                     f"'{clash[0]}' and the right over '{clash[1]}'", node.span,
                     f"map one side onto the other's dimension with an index array, e.g. "
                     f"v[idx] with data idx: int[{clash[1]}] for v over '{clash[0]}'")
            return None
        if same_shape(a, b):
            return Type(a.elem, tuple(x if isinstance(x, int) else y for x, y in
                                      zip(a.shape, b.shape)), merge_names(a, b))
        self.err(
            f"{what} needs operands of the same shape, but the left is {a.describe()} and the "
            f"right is {b.describe()}", node.span,
            "broadcasting is explicit in ppl: index or reshape one side so that the shapes "
            "match (a silent (N,1) x (N) broadcast would build an N x N array)")
        return None

    def binary(self, e: ast.Binary, local) -> Type:
        a, b = self.expr(e.left, local), self.expr(e.right, local)
        if a.is_error or b.is_error:
            return ERROR
        op = e.op
        if op == "*" and a.rank == 2 and b.rank in (1, 2):
            if dims_equal(a.shape[1], b.shape[0]) is False:
                return self.err(
                    f"matrix product of {a.describe()} and {b.describe()}: the left has "
                    f"{a.shape[1]} columns but the right has {b.shape[0]} rows", e.span,
                    "the inner sizes of a matrix product must agree")
            return Type("real", (a.shape[0],) + b.shape[1:], (a.dim_names[0],) + b.dim_names[1:])
        if op == "*" and a.rank == 1 and b.rank == 2:
            return self.err(f"cannot multiply {a.describe()} by {b.describe()}", e.span,
                            "a vector times a matrix is ambiguous; write the matrix on the left")
        what = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division",
                ".*": "element-wise multiplication", "./": "element-wise division",
                "%": "the modulus", "^": "the power"}.get(op, f"'{op}'")
        shape = self.elementwise(a, b, e, what)
        if shape is None:
            return ERROR
        if op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||"):
            return shape.with_elem("int")
        both_int = a.elem == "int" and b.elem == "int"
        elem = "int" if both_int and op in ("+", "-", "*", ".*", "%") else "real"
        return shape.with_elem(elem)

    def conditional(self, e: ast.Conditional, local) -> Type:
        cond = self.expr(e.cond, local)
        a, b = self.expr(e.then, local), self.expr(e.orelse, local)
        if cond.is_error or a.is_error or b.is_error:
            return ERROR
        if cond.elem != "int" or cond.rank != 0:
            return self.err(f"the condition of 'if' must be a single integer (a comparison), "
                            f"not {cond.describe()}", e.cond.span,
                            "compare scalars, e.g. if t == 1 then ... else ...")
        if not same_shape(a, b):
            return self.err(f"the two branches of 'if' must have the same shape, but 'then' is "
                            f"{a.describe()} and 'else' is {b.describe()}", e.span)
        return a.with_elem("int" if a.elem == b.elem == "int" else "real")

    def density(self, e: ast.Call, spec: DistributionSpec, local) -> Type:
        """``normal_lpdf(y, mu, sigma)``: element-wise log-density of a univariate family."""
        if spec.event_rank or any(spec.ranks()):
            return self.err(f"{e.func}() is only available for univariate distributions",
                            e.func_span, f"use {spec.name} with '~' instead")
        want = 1 + len(spec.params)
        if len(e.args) != want or any(a.name for a in e.args):
            return self.err(f"{e.func}() takes {want} plain arguments (the value, then "
                            f"{', '.join(spec.params)}), not {len(e.args)}", e.span)
        types = [self.expr(a.value, local) for a in e.args]
        if any(t.is_error for t in types):
            return ERROR
        return self.broadcast_all(types, e.args, f"the arguments of {e.func}")

    def call(self, e: ast.Call, local) -> Type:
        if e.func in self.functions:
            return self.user_call(e, self.functions[e.func], local)
        if e.func == "ode_solve":
            return self.ode_call(e, local)
        spec = FUNCTIONS.get(e.func)
        if spec is None:
            dspec = density_spec(e.func)
            return self.density(e, dspec, local) if dspec is not None else ERROR
        args = [self.expr(a.value, local) for a in e.args]
        for a in e.args:
            if a.name is not None:
                return self.err(f"{e.func}() takes no argument names", a.span,
                                f"write {e.func}(x) with plain arguments")
        lo, hi = ARITY[spec.rule]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} or {hi}"
            return self.err(f"{e.func}() takes {want} argument{'s' if hi > 1 else ''}, "
                            f"not {len(args)}", e.span, f"{e.func}: {spec.doc}")
        if any(t.is_error for t in args):
            return ERROR
        elem = "int" if spec.keeps_int and all(t.elem == "int" for t in args) else "real"
        rule = spec.rule
        if rule == "reduce_or_binary":
            rule = "reduce" if len(args) == 1 else "binary"
        if rule == "elementwise":
            return args[0].with_elem(elem)
        if rule == "reduce":
            return Type(elem)
        if rule == "vector":
            if args[0].rank != 1:
                return self.err(f"{e.func}() needs a vector, not {args[0].describe()}",
                                e.args[0].span)
            return args[0].with_elem(elem)
        if rule in ("matrix", "square_matrix"):
            t = args[0]
            if t.rank != 2 or (rule == "square_matrix"
                               and dims_equal(t.shape[0], t.shape[1]) is False):
                kind = "a square matrix" if rule == "square_matrix" else "a matrix"
                return self.err(f"{e.func}() needs {kind}, not {t.describe()}", e.args[0].span)
            if e.func == "transpose":
                return Type(t.elem, t.shape[::-1], t.dim_names[::-1])
            if e.func == "to_vector":
                size = (t.shape[0] * t.shape[1] if all(isinstance(d, int) for d in t.shape)
                        else f"{t.shape[0]} * {t.shape[1]}")
                return Type(t.elem, (size,))
            return t.with_elem("real")
        if rule == "gp":
            x, *scales = args
            if x.rank != 1 or any(t.rank for t in scales):
                return self.err(f"{e.func}(x, alpha, rho) needs a vector of inputs and scalar "
                                f"alpha and rho", e.span)
            return Type("real", x.shape * 2, x.dim_names * 2)
        if rule == "solve":
            lower, b = args
            if lower.rank != 2 or b.rank not in (1, 2) or \
                    dims_equal(lower.shape[1], b.shape[0]) is False:
                return self.err(f"{e.func}(L, b) needs a square matrix L and a vector or matrix "
                                f"b with matching rows, not {lower.describe()} and "
                                f"{b.describe()}", e.span)
            return b.with_elem("real")
        if rule == "append":
            a, b = args
            axis = 0 if e.func == "append_row" else 1
            if a.rank != b.rank or a.rank <= axis or any(
                    dims_equal(x, y) is False for i, (x, y) in enumerate(zip(a.shape, b.shape))
                    if i != axis):
                return self.err(f"{e.func}() cannot join {a.describe()} and {b.describe()}",
                                e.span, "the sizes other than the joined one must agree")
            x, y = a.shape[axis], b.shape[axis]
            size = x + y if isinstance(x, int) and isinstance(y, int) else f"{x} + {y}"
            shape = a.shape[:axis] + (size,) + a.shape[axis + 1:]
            return Type("int" if a.elem == b.elem == "int" else "real", shape)
        if rule == "add_diag":
            m, d = args
            if m.rank != 2 or d.rank > 1:
                return self.err(f"add_diag(M, d) needs a square matrix and a scalar or vector, "
                                f"not {m.describe()} and {d.describe()}", e.span)
            return m.with_elem("real")
        if rule == "diag":
            if args[0].rank != 1:
                return self.err(f"{e.func}() needs a vector, not {args[0].describe()}",
                                e.args[0].span)
            return Type("real", args[0].shape * 2, args[0].dim_names * 2)
        if rule == "mix":
            return self.broadcast_all(args, e.args, f"the arguments of {e.func}()")
        if rule == "dot":
            if args[0].rank != 1 or args[1].rank != 1 or not same_shape(args[0], args[1]):
                return self.err(f"dot() needs two vectors of the same length, not "
                                f"{args[0].describe()} and {args[1].describe()}", e.span)
            return REAL
        shape = self.elementwise(args[0], args[1], e, f"{e.func}()")
        return ERROR if shape is None else shape.with_elem(elem)

    def index(self, e: ast.Index, local) -> Type:
        base = self.expr(e.base, local)
        if base.is_error:
            return ERROR
        if len(e.indices) > base.rank:
            return self.err(f"too many indices: {base.describe()} has {base.rank} "
                            f"dimension{'s' if base.rank != 1 else ''}, but {len(e.indices)} "
                            "indices are given", e.span, "use one index per dimension")
        shape: list[Dim] = []
        names: list[str | None] = []
        multi = 0
        for axis, item in enumerate(e.indices):
            size = base.shape[axis]
            if isinstance(item, ast.Slice) and self.moves(item, local):
                width = self.moving_slice(item, local, size)
                if width is None:
                    return ERROR
                shape.append(width)
                names.append(None)
                continue
            if isinstance(item, ast.Slice):
                lo = self.slice_end(item.lo, local, 1)
                hi = self.slice_end(item.hi, local, size)
                if lo is None or hi is None:
                    return ERROR
                if isinstance(lo, int) and isinstance(hi, int):
                    width: Dim = hi - lo + 1
                    if isinstance(size, int) and (lo < 1 or hi > size or width < 0):
                        return self.err(f"slice {lo}:{hi} is outside 1:{size}", item.span,
                                        "indices are 1-based and both ends are included")
                else:
                    width = f"{pretty.expr(item.hi) if item.hi else size} - " \
                            f"{pretty.expr(item.lo) if item.lo else 1} + 1"
                shape.append(width)
                names.append(base.dim_names[axis] if width == size else None)
                continue
            t = self.expr(item, local)
            if t.is_error:
                return ERROR
            if t.elem != "int":
                return self.err(f"an index must be an integer, not {t.describe()}", item.span,
                                "indices are 1-based integers")
            if t.rank == 1:
                multi += 1
                shape.append(t.shape[0])
                names.append(t.dim_names[0])
            elif t.rank > 1:
                return self.err(f"an index must be an int or an int array, not {t.describe()}",
                                item.span)
            else:
                value = self.const(item) if not local else None
                if isinstance(value, int) and isinstance(size, int) and not 1 <= value <= size:
                    return self.err(f"index {value} is outside 1:{size}", item.span,
                                    "indices are 1-based")
        if multi > 1:
            return self.err("only one index may be an array of indices", e.span,
                            "index one dimension with an array and the others with scalars")
        rest = base.shape[len(e.indices):]
        rest_names = base.dim_names[len(e.indices):]
        return Type(base.elem, tuple(shape) + rest, tuple(names) + rest_names)

    def slice_end(self, node, local, default) -> Dim | None:
        if node is None:
            return default
        t = self.expr(node, local)
        if t.is_error:
            return None
        if t.elem != "int" or t.rank != 0:
            self.err(f"a slice end must be an integer, not {t.describe()}", node.span)
            return None
        if not self.is_data_only(node, {}):
            self.err("slice ends must be known from the data", node.span,
                     "a slice's length is fixed before sampling; use int data or literals")
            return None
        value = self.const(node)
        return value if value is not None else pretty.expr(node)

    @staticmethod
    def moves(item: ast.Slice, local) -> bool:
        """Whether a slice's ends depend on a range variable (a window moving with it)."""
        return any(n.id in local for end in (item.lo, item.hi) for n in free_names(end))

    def moving_slice(self, item: ast.Slice, local, size: Dim) -> Dim | None:
        """A window such as ``y[t - K:t - 1]``: its ends may move with the range variable,
        its length may not (lengths are fixed before sampling)."""
        for end in (item.lo, item.hi):
            if end is None:
                continue
            t = self.expr(end, local)
            if t.is_error:
                return None
            if t.elem != "int" or t.rank != 0:
                self.err(f"a slice end must be an integer, not {t.describe()}", end.span)
                return None
            if not self.is_data_only(end, local):
                self.err("slice ends must be known from the data and the range variable",
                         end.span, "a slice's length is fixed before sampling")
                return None
        lo = item.lo or ast.Number(1)
        hi = item.hi or (ast.Number(size) if isinstance(size, int) else None)
        if hi is None:
            return "?"
        variables = {n.id for end in (lo, hi) for n in free_names(end) if n.id in local}
        widths = set()
        for value in (0, 1):
            bound = {v: value for v in variables}
            a, b = self.const(lo, bound), self.const(hi, bound)
            if a is None or b is None:
                return f"{pretty.expr(hi)} - {pretty.expr(lo)} + 1"
            widths.add(b - a + 1)
        if len(widths) > 1:
            self.err(f"the length of this slice changes with {', '.join(sorted(variables))}",
                     item.span, "a moving window needs a fixed length, e.g. y[t - K:t - 1]")
            return None
        width = widths.pop()
        if width < 0:
            self.err(f"this slice runs backwards (length {width})", item.span,
                     "write the lower end first: lo:hi")
            return None
        return width

    # -- comprehensions ------------------------------------------------------------------
    def comprehension(self, c: ast.Comprehension) -> Dim:
        lo = self.size(c.lo, "the start of a range")
        hi = self.size(c.hi, "the end of a range")
        if isinstance(lo, int) and isinstance(hi, int):
            if hi < lo - 1:
                self.err(f"the range {lo}:{hi} runs backwards", c.span,
                         "ranges count up: write lo:hi with lo <= hi")
            return max(0, hi - lo + 1)
        if lo == 1:
            return hi
        return f"{hi} - {lo} + 1"

    # -- distributions -------------------------------------------------------------------
    def distribution(self, call: ast.Call, local) -> tuple[DistributionSpec | None, Type]:
        spec = DISTRIBUTIONS.get(call.func)
        if spec is None:
            if call.func in FUNCTIONS:
                self.err(f"'{call.func}' is a function, not a distribution", call.func_span,
                         "the right of '~' must be a distribution such as normal(mu, sigma)")
            else:
                self.err(f"unknown distribution '{call.func}'", call.func_span,
                         _suggest(call.func, DISTRIBUTIONS) or
                         "see the distribution reference for the names")
            return None, ERROR
        bound: dict[str, ast.Argument] = {}
        ok = True
        for i, a in enumerate(call.args):
            if a.name is None:
                if bound and any(b.name for b in bound.values()):
                    self.err("a positional argument cannot follow a named one", a.span)
                    ok = False
                    continue
                if i >= len(spec.params):
                    self.err(f"{spec.name} takes {len(spec.params)} argument"
                             f"{'s' if len(spec.params) != 1 else ''} "
                             f"({', '.join(spec.params)}), not {len(call.args)}",
                             a.span, f"{spec.name}({', '.join(spec.params)}): {spec.doc}")
                    return spec, ERROR
                bound[spec.params[i]] = a
            else:
                if a.name not in spec.params:
                    self.err(f"{spec.name} has no argument '{a.name}'", a.span,
                             f"its arguments are {', '.join(spec.params) or 'none'}")
                    ok = False
                elif a.name in bound:
                    self.err(f"argument '{a.name}' is given twice", a.span)
                    ok = False
                else:
                    bound[a.name] = a
        missing = [p for p in spec.params if p not in bound]
        if missing and ok:
            self.err(f"{spec.name} is missing the argument{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(missing)}", call.span,
                     f"{spec.name}({', '.join(spec.params)}): {spec.doc}")
            return spec, ERROR
        if not ok:
            return spec, ERROR
        types = [self.expr(bound[p].value, local) for p in spec.params]
        if any(t.is_error for t in types):
            return spec, ERROR
        return spec, self.variate_shape(spec, types, [bound[p] for p in spec.params], call)

    def variate_shape(self, spec, types, args, call) -> Type:
        batch = Type("real")
        event: tuple = ()
        event_names: tuple = ()
        for t, a, rank, pname in zip(types, args, spec.ranks(), spec.params):
            if t.rank < rank:
                kind = {1: "a vector", 2: "a matrix"}[rank]
                return self.err(f"argument {pname} of {spec.name} must be {kind}, not "
                                f"{t.describe()}", a.span)
            b = Type("real", t.shape[: t.rank - rank], t.dim_names[: t.rank - rank])
            merged = self.elementwise(batch, b, a.value,
                                      f"the arguments of {spec.name}")
            if merged is None:
                return ERROR
            batch = merged
            if rank:
                if event and dims_equal(event[0], t.shape[t.rank - rank]) is False:
                    return self.err(f"argument {pname} of {spec.name} has size "
                                    f"{t.shape[t.rank - rank]}, but the mean has size {event[0]}",
                                    a.span, "the sizes of the arguments must agree")
                if not event:
                    event = t.shape[t.rank - rank:][:1]
                    event_names = t.dim_names[t.rank - rank:][:1]
        if spec.event_rank == 0:
            event, event_names = (), ()
        elem = "int" if spec.discrete else "real"
        return Type(elem, batch.shape + event, batch.dim_names + event_names)

    # -- statements ----------------------------------------------------------------------
    def declared_type(self, decl) -> Type:
        return self.type_spec(decl.type)

    def symbol(self, name: str, entry: dict, deps: set[str]) -> Symbol:
        if "generated" in entry:
            return self.generated_quantity(entry["generated"], deps)
        data = entry.get("data")
        param = entry.get("param")
        sample = entry.get("sample")
        define = entry.get("define")
        first = data or param or sample or define
        span = first.name_span
        if define is not None and sample is not None:
            return self.observed_definition(name, define, sample, span, deps)
        if define is not None:
            t = self.definition(define)
            only = self.is_data_only(define.expr, {define.index_var: INT} if define.index_var
                                     else {}) and all(self.data_only.get(d, False) for d in deps)
            return Symbol(name, "defined", t, span, define=define, depends=frozenset(deps),
                          data_only=only)
        declared = None
        for decl in (data, param):
            if decl is not None:
                declared = self.declared_type(decl)
                self.bounds(decl.bounds, declared, of_data=decl is data)
        if sample is not None and sample.type is not None:
            declared = self.type_spec(sample.type)
            self.bounds(sample.bounds, declared)
        if sample is None:
            kind = "data" if data else "latent"
            return Symbol(name, kind, declared, span, data_decl=data, param_decl=param,
                          depends=frozenset(deps), data_only=data is not None)
        if data is not None and declared is not None:
            # Observed data may appear in its own distribution (`y[n] ~ normal(y[n - 1], s)`);
            # its declared type is known, so that expression is checked like any other.
            self.types[name] = declared
        t = self.sampled(sample, declared, data)
        return Symbol(name, "observable" if data else "latent", t, span, data_decl=data,
                      param_decl=param, sample=sample, depends=frozenset(deps))

    def generated_quantity(self, st: ast.Sample | ast.Define, deps: set[str]) -> Symbol:
        """``generated x = ...`` or ``generated x ~ ...``: outside the log-density; a ``~``
        there is a random draw, so discrete distributions are fine."""
        if isinstance(st, ast.Define):
            t = self.definition(st)
            return Symbol(st.name, "generated", t, st.name_span, define=st,
                          depends=frozenset(deps))
        declared = None
        if st.type is not None:
            declared = self.type_spec(st.type)
            self.bounds(st.bounds, declared)
        t = self.sampled(st, declared, st)
        return Symbol(st.name, "generated", t, st.name_span, sample=st, depends=frozenset(deps))

    def observed_definition(self, name, define, sample, span, deps) -> Symbol:
        """``name = expr`` of the data alone, also given a distribution: observed, as Stan's
        ``~`` on transformed data."""
        t = self.definition(define)
        local = {define.index_var: INT} if define.index_var else {}
        if not t.is_error and not self.is_data_only(define.expr, local):
            self.err(f"'{name}' has a distribution, so it must be computed from the data "
                     "alone, but its definition depends on a parameter", define.span,
                     "only data and definitions from data can be observed")
        if sample.type is not None:
            self.err(f"'{name}' is defined on line {define.span.line}; its type comes from "
                     "the definition", sample.name_span, "drop the type annotation")
        t = self.sampled(sample, None if t.is_error else t, define)
        return Symbol(name, "observable", t, span, sample=sample, define=define,
                      depends=frozenset(deps))

    def bounds(self, b: ast.Bounds | None, declared: Type, of_data: bool = False):
        if b is None:
            return
        for end in (b.lower, b.upper):
            if end is None:
                continue
            t = self.expr(end, {})
            if t.is_error:
                continue
            if of_data and not self.is_data_only(end, {}):
                self.err("a bound of data must be known from the data, but this one depends on "
                         "a parameter", end.span, "use numbers or other data in the bounds of data")
                continue
            if t.rank and not same_shape(t, declared):
                self.err(f"a bound must be a scalar or have the declared shape "
                         f"{declared.describe()}, not {t.describe()}", end.span)

    def range_dim_name(self, c: ast.Comprehension) -> str | None:
        """``for n in 1:N`` makes an axis named ``N``; other ranges give unnamed axes."""
        starts_at_one = isinstance(c.lo, ast.Number) and c.lo.value == 1
        return pretty.expr(c.hi) if isinstance(c.hi, ast.Name) and starts_at_one else None

    def indexed_lhs_error(self, st: ast.Define | ast.Sample, op: str) -> Type | None:
        """``x[i] = ...`` / ``x[i] ~ ...`` needs a range over ``i``; None when it is fine."""
        c = st.comprehension
        if c is None and st.index_var is not None:
            return self.err(f"'{st.name}[{st.index_var}]' needs a range", st.name_span,
                            f"add `for {st.index_var} in 1:N` at the end of the line")
        if c is not None and st.index_var != c.var:
            return self.err(f"the index '{st.index_var}' must be the variable of the range, "
                            f"'{c.var}'", st.name_span, f"write {st.name}[{c.var}] {op} ...")
        return None

    def definition(self, d: ast.Define) -> Type:
        problem = self.indexed_lhs_error(d, "=")
        if problem is not None:
            return problem
        if d.comprehension is None:
            return self.expr(d.expr, {})
        c = d.comprehension
        length = self.comprehension(c)
        name = self.range_dim_name(c)
        if any(n.id == d.name for n in free_names(d.expr)):
            item = self.recursion(d, length, name)
        else:
            item = self.expr(d.expr, {c.var: INT})
        if item.is_error:
            return ERROR
        if c.lo is not None and self.const(c.lo) not in (1, None):
            self.err("a definition by a range must start at 1", c.lo.span,
                     f"write for {c.var} in 1:..., so that {d.name}[1] is the first element")
        return Type(item.elem, (length,) + item.shape, (name,) + item.dim_names)

    def recursion(self, d: ast.Define, length: Dim, dim_name: str | None) -> Type:
        """``x[t] = f(x[t - 1], ...) for t in 1:T``: each element may use earlier ones (it
        compiles to a scan). Every use must be ``x[t - k]`` with a constant k >= 1."""
        var = d.comprehension.var
        bad = [use for use in self_references(d.expr, d.name) if recursion_lag(use, var) is None]
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

    def sampled(self, s: ast.Sample, declared: Type | None, data) -> Type:
        local = {}
        length = None
        problem = self.indexed_lhs_error(s, "~")
        if problem is not None:
            return problem
        if s.comprehension is not None:
            c = s.comprehension
            length = self.comprehension(c)
            local = {c.var: INT}
            if data is None and _is_markov_chain({"sample": s}) and \
                    not self.markov_chain(s, length):
                return ERROR
        spec, item = self.distribution(s.dist, local)
        if spec is None or item.is_error:
            return declared if declared is not None else ERROR
        if spec.discrete and data is None and spec.support not in FINITE_SUPPORTS:
            self.err(f"'{s.name}' has the discrete distribution {spec.name}, whose support is "
                     "not a small finite set, so it cannot be summed out of the model",
                     s.name_span,
                     "declare it with `data` and supply it; only bernoulli and categorical "
                     "parameters are summed out (marginalised) automatically")
            return ERROR
        if spec.discrete and declared is not None and declared.elem != "int":
            self.err(f"{spec.name} is a distribution over integers, but '{s.name}' is declared "
                     f"{declared.describe()}", s.name_span,
                     f"declare '{s.name}' as int (e.g. int[N])")
        if spec.name == "lkj_corr_cholesky" and (declared is None or declared.rank != 2):
            return self.err("lkj_corr_cholesky needs the size of the matrix", s.name_span,
                            f"declare it: {s.name}: matrix[K, K] ~ lkj_corr_cholesky(eta)")
        if spec.name == "lkj_corr_cholesky":
            return declared.with_elem("real")
        if length is not None:
            whole = Type(item.elem, (length,) + item.shape,
                         (self.range_dim_name(s.comprehension),) + item.dim_names)
            if declared is None:
                if self.const(s.comprehension.lo) not in (1, None):
                    self.err("a parameter defined by a range must start at 1",
                             s.comprehension.lo.span,
                             f"write for {s.comprehension.var} in 1:..., or declare "
                             f"'{s.name}' as data")
                return whole
            if declared.rank != whole.rank or not same_shape(
                    Type("real", declared.shape[1:]), Type("real", whole.shape[1:])):
                return self.err(f"'{s.name}' is {declared.describe()}, but each "
                                f"{s.name}[{s.index_var}] here is {item.describe()}",
                                s.name_span, "make the per-element shape match the declaration")
            lo = self.const(s.comprehension.lo)
            hi = self.const(s.comprehension.hi)
            size = declared.shape[0]
            if isinstance(lo, int) and isinstance(hi, int) and isinstance(size, int) and (
                    lo < 1 or hi > size):
                self.err(f"the range {lo}:{hi} is outside 1:{size}, the size of '{s.name}'",
                         s.comprehension.span, "indices are 1-based and both ends included")
            return declared
        if declared is None:
            return item
        if item.rank and not same_shape(item, declared):
            return self.err(
                f"'{s.name}' is {declared.describe()}, but its distribution has shape "
                f"{item.describe()}", s.dist.span,
                "the arguments must be scalars or have the variable's shape; broadcasting is "
                "explicit in ppl")
        return declared

    def markov_chain(self, s: ast.Sample, length: Dim) -> bool:
        """A discrete chain may use only its previous state ``z[t - 1]`` (the forward
        algorithm sums it out); while its arguments are checked, ``z`` is an int array."""
        var = s.comprehension.var
        bad = [u for a in s.dist.args for u in self_references(a.value, s.name)
               if recursion_lag(u, var) != 1]
        for use in bad:
            self.err(f"'{s.name}' is a Markov chain of discrete states, so its distribution may "
                     f"use only the previous state {s.name}[{var} - 1]", use.span,
                     f"write {s.name}[{var} - 1]; longer memories are not summed out "
                     "automatically")
        self.types[s.name] = Type("int", (length,), (self.range_dim_name(s.comprehension),))
        return not bad

    def discrete_uses(self, symbols: dict[str, Symbol], factors, factor_deps) -> None:
        """A discrete latent ``z`` is summed out element by element (vectorised log-sum-exp, or
        the forward algorithm for a chain), so element n of ``z`` -- and of definitions
        computed from it -- may reach only element n of the statements that use it. A scalar
        ``z`` may be used anywhere."""
        for z in symbols.values():
            if z.kind != "latent" or not is_discrete_latent(z.sample) or z.type is None \
                    or z.type.is_error:
                continue
            if z.type.rank > 1:
                self.err(f"the discrete parameter '{z.name}' has {z.type.rank} dimensions; "
                         "only scalars and one-dimensional arrays are summed out", z.span,
                         f"index it by one range: {z.name}[n] ~ ... for n in 1:N")
                continue
            reach = {z.name}
            for s in symbols.values():
                if s.kind == "defined" and s.depends & reach:
                    reach.add(s.name)
            for s in symbols.values():
                if s.name == z.name or not s.depends & reach or s.kind == "generated":
                    continue
                if s.kind == "latent" and is_discrete_latent(s.sample):
                    self.err(f"the discrete parameter '{s.name}' depends on the discrete "
                             f"parameter '{z.name}'; discrete parameters are summed out one at "
                             "a time, so one cannot depend on another", s.span,
                             f"supply '{s.name}' or '{z.name}' as data, or combine them into one "
                             "categorical")
                elif z.type.rank == 1:
                    self.aligned_uses(z, reach, s.define or s.sample,
                                      [st for st in (s.param_decl, s.sample, s.define) if st])
            if z.type.rank == 1:
                for f, deps in zip(factors, factor_deps):
                    if deps & reach:
                        self.aligned_uses(z, reach, f, [])

    def aligned_uses(self, z: Symbol, reach: set[str], st, statements: list) -> None:
        """Every use of ``reach`` in ``statements`` (``st``'s range decides the element) must be
        ``name[n]`` for the range variable n of a range 1:size of ``z``."""
        c = getattr(st, "comprehension", None)
        size = z.type.shape[0]
        if c is not None and self.const(c.lo) == 1:
            hi = self.const(c.hi)
            if dims_equal(hi if hi is not None else pretty.expr(c.hi), size) is False:
                c = None
        elif c is not None:
            c = None
        parts = self.parts(dict(enumerate(statements))) if statements else \
            [(st.expr, frozenset())]
        for node, _ in parts:
            for use, aligned in _element_uses(node, reach, c.var if c else None):
                if aligned:
                    continue
                name = use.base.id if isinstance(use, ast.Index) else use.id
                via = "" if name == z.name else f" (computed from the discrete parameter " \
                    f"'{z.name}')"
                self.err(f"'{name}'{via} is summed out element by element, so it can be used "
                         f"only as {name}[n] in a statement over the same range n in 1:{size}",
                         use.span, f"write the statement element-wise, using {name}[n]: "
                         f"`... for n in 1:{size}` (a `generated` quantity may use '{name}' "
                         "freely)")

    # -- driver --------------------------------------------------------------------------
    def fail(self):
        ordered = sorted(self.errors, key=lambda d: (d.span.line, d.span.column))
        raise ModelError(ordered, self.source)

    def run(self) -> CheckedModel:
        entries, factors = self.collect()
        self.check_function_bodies()
        deps, factor_deps = self.dependencies(entries, factors)
        # Using observed data (y[t - 1] in a recursion for y's own scale, say) reads the data
        # values, which exist from the start: such uses do not order the statements.
        observable = {n for n, e in entries.items() if "data" in e and "sample" in e}
        data_types = {n: e["data"] for n, e in entries.items() if n in observable}
        ordering = {n: {d for d in ds if d not in observable or "sample" in entries[n]
                        and n == d} for n, ds in deps.items()}
        for n in observable:
            ordering[n] = deps[n]
        order = self.order(entries, ordering)
        self.observable_decls = data_types
        symbols: dict[str, Symbol] = {}
        for name in order:
            sym = self.symbol(name, entries[name], deps[name])
            symbols[name] = sym
            self.types[name] = sym.type if sym.type is not None else ERROR
            self.data_only[name] = sym.data_only
            if sym.data_only and sym.type is not None and sym.type.elem == "int" \
                    and sym.type.rank == 0:
                value = self.sizes.get(name) if sym.kind == "data" else (
                    self.const(sym.define.expr) if sym.define is not None else None)
                if value is not None:
                    self.values[name] = value
        for f in factors:
            self.expr(f.expr, {})
        self.discrete_uses(symbols, factors, factor_deps)
        self.unused(symbols, deps, factor_deps)
        if self.errors:
            self.fail()
        from ppl.frontend.lint import with_lint  # imported here: lint.py imports this module
        return with_lint(CheckedModel(self.program, self.source, symbols,
                                      tuple(zip(factors, factor_deps)), tuple(self.warnings),
                                      tuple(self.functions.values())))

    def unused(self, symbols, deps, factor_deps):
        used = set().union(*deps.values(), *factor_deps) if deps else set()
        for sym in symbols.values():
            if sym.kind == "data" and sym.name not in used:
                self.warnings.append(warning(f"data '{sym.name}' is declared but never used",
                                             sym.span, "remove the declaration or use it"))
            if sym.kind == "latent" and sym.sample is None and _bounded(sym.param_decl):
                self.warnings.append(warning(
                    f"parameter '{sym.name}' has no distribution, so its prior is uniform on its "
                    "bounded support", sym.span,
                    f"give '{sym.name}' a prior distribution if uniform is not meant"))
            elif sym.kind == "latent" and sym.sample is None:
                self.warnings.append(warning(
                    f"parameter '{sym.name}' has no distribution, so its prior is improper and "
                    "flat on its support", sym.span,
                    f"give it a prior, e.g. {sym.name} ~ normal(0, 10), if flat is not meant"))


def check(program: ast.Program, source: Source, sizes: Mapping[str, int] | None = None
          ) -> CheckedModel:
    """Check a parsed program; ``sizes`` are the values of integer scalar data, when known."""
    return _Checker(program, source, sizes).run()


__all__ = ["CheckedModel", "Symbol", "check", "free_names", "NO_SPAN"]
