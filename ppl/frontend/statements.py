"""The types pass, statements: the type of every named quantity, in the names pass's order.

For each name this pass decides what the quantity is (data, an observable, a latent, a
definition, a generated quantity: a :class:`~ppl.frontend.symbols.Symbol`) and its type, from
its declaration, its distribution's variate or its definition's expression. It checks that
declared and implied shapes agree, that bounds are scalars or of the declared shape (and, for
data, known from the data), that an indexed left side (``y[n] ~ ...``) comes with its range,
that a definition by ranges covers its elements exactly once (see
:mod:`ppl.frontend.pieces`), that ranges of parameters start at 1, that discrete
parameters have a small finite support, and that user-defined function bodies return their
declared type. Integer scalars of the data are folded to numbers on the way, so later sizes
are concrete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from ppl.errors import Diagnostic
from ppl.frontend import ast, pretty
from ppl.frontend.names import Scope
from ppl.frontend.pieces import coverage_errors
from ppl.frontend.recursions import RecursionTyper
from ppl.frontend.symbols import (
    FINITE_SUPPORTS,
    Symbol,
    is_latent_recursion,
    is_markov_chain,
)
from ppl.frontend.types import ERROR, INT, Type, dims_equal, same_shape
from ppl.library.cdfs import has_cdf
from ppl.library.distributions import DISTRIBUTIONS

# Ends of the supports that declared bounds may repeat next to T[L, U] without restricting
# anything (lower, upper; None where it depends on the arguments).
# Supports set by the arguments (uniform's interval, pareto's minimum): a latent whose
# arguments use its own elements would have a transform that depends on itself.
_MOVING_SUPPORTS = frozenset({"interval", "lower_bounded"})
_SUPPORT_ENDS = {"real": (None, None), "positive": (0.0, None), "unit_interval": (0.0, 1.0),
                 "nonnegative_integer": (0.0, None), "binary": (0.0, 1.0),
                 "bounded_integer": (0.0, None)}


@dataclass(frozen=True)
class TypedProgram:
    """The result of the types pass: the symbols in dependency order, the integer scalars
    whose values are known (data sizes and integer definitions of them), and the errors."""

    symbols: dict[str, Symbol]
    values: dict[str, int]
    errors: tuple[Diagnostic, ...]


def type_program(scope: Scope, sizes: Mapping[str, int] | None) -> TypedProgram:
    """Run the types pass over the names pass's ``scope``; ``sizes`` are the values of the
    integer scalar data, when known (otherwise sizes stay symbolic, such as ``J``)."""
    return _StatementTyper(scope, sizes).run()


def _indices(st: ast.Define) -> dict:
    """The index variables of an element-wise statement, typed int."""
    return {v: INT for v in st.comprehension.variables} if st.comprehension else {}


class _StatementTyper(RecursionTyper):
    def run(self) -> TypedProgram:
        self.function_bodies()
        symbols: dict[str, Symbol] = {}
        for name in self.scope.order:
            group = self.scope.joint.get(name, ())
            if group and name == group[0]:
                self.joint_element_types(group)
            sym = self.symbol(name, self.scope.entries[name], self.scope.deps[name])
            if group:
                sym = dataclasses.replace(sym, joint=tuple(
                    self.scope.entries[m]["define"] for m in group))
                self.scalar_joint_element(sym)
            symbols[name] = sym
            self.types[name] = sym.type if sym.type is not None else ERROR
            self.data_only[name] = sym.data_only
            if sym.data_only and sym.type is not None and sym.type.elem == "int" \
                    and sym.type.rank == 0:
                # An integer defined from the data (m = max(y)) comes evaluated in sizes.
                value = self.sizes.get(name) if sym.kind == "data" or name in self.sizes \
                    else (self.const(sym.define.expr) if sym.define is not None else None)
                if value is not None:
                    self.values[name] = value
        for f in self.scope.factors:
            self.expr(f.expr, {})
        return TypedProgram(symbols, dict(self.values), tuple(self.errors))

    def joint_element_types(self, group: tuple[str, ...]) -> None:
        """Before a joint recursion is typed, each member is taken to be one real per step,
        so that members can use elements of those defined after them."""
        first = self.scope.entries[group[0]]["define"]
        grid = self.grid(first.comprehension)
        for m in group:
            self.types[m] = Type("real", grid.shape, grid.dim_names)

    def scalar_joint_element(self, sym: Symbol) -> None:
        if sym.type is not None and not sym.type.is_error and sym.type.rank != 1:
            self.err(f"'{sym.name}' is part of a joint recursion with "
                     f"{', '.join(repr(d.name) for d in sym.joint if d.name != sym.name)}, "
                     "whose elements must be numbers", sym.define.span,
                     "define each element as a single number, or write the recursion over "
                     "one definition whose elements are vectors")

    def function_bodies(self) -> None:
        """Each body (of the functions the names pass found clean) must return the declared
        type."""
        for name in self.scope.typed_functions:
            if self.errors:
                return
            f = self.functions[name]
            local = {n: self.signature_type(t) for n, t in f.params}
            body = self.expr(f.body, local)
            want = self.signature_type(f.returns)
            if not body.is_error and not same_shape(body, want):
                self.err(f"{f.name}() is declared to return {want.describe()}, but its body is "
                         f"{body.describe()}", f.body.span, "make the body match the return type")

    def symbol(self, name: str, entry: dict, deps: frozenset[str]) -> Symbol:
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
            only = self.is_data_only(define.expr, _indices(define)) and \
                all(self.data_only.get(d, False) for d in deps)
            return Symbol(name, "defined", t, span, define=define, depends=frozenset(deps),
                          data_only=only)
        declared = None
        for decl in (data, param):
            if decl is not None:
                declared = self.type_spec(decl.type)
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
        if is_latent_recursion(entry) and not self.latent_recursion(sample, declared):
            return Symbol(name, "latent", ERROR, span, param_decl=param, sample=sample,
                          depends=frozenset(deps))
        t = self.sampled(sample, declared, data)
        declared_bounds = (param.bounds if param else None, data.bounds if data else None,
                           sample.bounds)
        self.truncation(sample, declared_bounds, t, latent=data is None)
        return Symbol(name, "observable" if data else "latent", t, span, data_decl=data,
                      param_decl=param, sample=sample, depends=frozenset(deps))

    def latent_recursion(self, s: ast.Sample, declared: Type | None) -> bool:
        """``x[t] ~ normal(x[t - 1], s) for t in 2:T`` on a parameter: its distribution may use
        only earlier elements, at a constant lag (a proper joint density, the product of the
        conditionals), over one index, of a family whose support does not move with its
        arguments (the transform to the unconstrained space is fixed). While the arguments
        are typed, ``x`` has its declared type, or one real per element of the range."""
        c = s.comprehension
        spec = DISTRIBUTIONS.get(s.dist.func)
        uses = [u for a in s.dist.args for u in ast.self_references(a.value, s.name)]
        if c.inner is not None:
            self.err(f"'{s.name}' uses its own elements in its distribution over several "
                     "indices; a parameter may refer back to itself over one index only",
                     uses[0].span, f"write {s.name}[{c.var}] ~ ... for {c.var} in ... with "
                     f"{s.name}[{c.var} - 1]")
            return False
        bad = [u for u in uses if ast.recursion_lag(u, c.var) is None]
        for use in bad:
            self.err(f"'{s.name}' refers to itself here in a way that is not well-founded",
                     use.span, f"the distribution of {s.name}[{c.var}] may use only earlier "
                     f"elements: {s.name}[{c.var} - 1], {s.name}[{c.var} - 2], ... (a "
                     "constant lag >= 1)")
        t = s.truncation
        for end in (t.lower, t.upper) if t is not None else ():
            for use in ast.self_references(end, s.name) if end is not None else ():
                bad.append(use)
                self.err(f"the ends of the truncation of '{s.name}' cannot use '{s.name}' "
                         "itself", use.span, f"truncate by ends that do not depend on '{s.name}'")
        if bad:
            return False
        if spec is not None and spec.support in _MOVING_SUPPORTS:
            self.err(f"'{s.name}' has the distribution {spec.name}, whose support moves with "
                     f"its arguments, so they cannot use earlier elements of '{s.name}'",
                     uses[0].span, "use a family whose support is fixed (normal, student_t, "
                     "lognormal, gamma, ...)")
            return False
        grid = self.grid(c)
        self.types[s.name] = declared if declared is not None else \
            Type("real", grid.shape, grid.dim_names)
        return True

    def generated_quantity(self, st: ast.Sample | ast.Define, deps: frozenset[str]) -> Symbol:
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
        spec = DISTRIBUTIONS.get(st.dist.func)
        if spec is not None and spec.total_from_value:
            self.err(f"'{st.name}' cannot be drawn from {spec.name}: its number of trials N is "
                     "the sum of observed counts, and a generated quantity has none",
                     st.dist.span, f"observe the counts as data (y ~ {spec.name}(theta)); "
                     "replicates of observed counts are in the posterior predictive")
        self.truncation(st, (st.bounds,), t, latent=False)
        return Symbol(st.name, "generated", t, st.name_span, sample=st, depends=frozenset(deps))

    def truncation(self, s: ast.Sample, declared: tuple, whole: Type, latent: bool) -> None:
        """``T[L, U]`` after a distribution: a univariate family with a CDF, ends that are
        scalars (per element in a range) or of the variate's shape, a lower end below the upper
        one, and declared bounds (if any) that say the same."""
        t, spec = s.truncation, DISTRIBUTIONS.get(s.dist.func)
        if t is None or spec is None:
            return
        if t.lower is None and t.upper is None:
            self.err("T[, ] truncates nothing", t.span,
                     "give a lower end, an upper end or both: T[L, U], T[L, ] or T[, U]")
            return
        if spec.event_rank or any(spec.ranks()):
            self.err(f"{spec.name} is a multivariate distribution; T[...] truncates a "
                     "univariate one", t.span, "remove T[...]; bounds on the declaration give "
                     "the support of a multivariate draw")
            return
        if not has_cdf(spec.name):
            self.err(f"{spec.name} has no CDF here, so it cannot be truncated", t.span,
                     "remove T[...], or use a distribution with a CDF (the functions column "
                     "of docs/distributions.md lists its _lcdf)")
            return
        if spec.discrete and latent:
            self.err(f"'{s.name}' is a discrete parameter; truncating one is not supported",
                     t.span, f"supply '{s.name}' as data, or truncate it in a generated "
                     "quantity")
            return
        local = {s.comprehension.var: INT} if s.comprehension is not None else {}
        item = whole if s.comprehension is None or whole.is_error else \
            Type(whole.elem, whole.shape[1:], whole.dim_names[1:])
        for end in (t.lower, t.upper):
            kind = self.expr(end, local) if end is not None else ERROR
            if not kind.is_error and kind.rank and not item.is_error \
                    and not same_shape(kind, item):
                self.err(f"a truncation end must be a scalar or have the shape of "
                         f"'{s.name}' ({item.describe()}), not {kind.describe()}", end.span,
                         "in a statement over a range, index the end by the range variable: "
                         "T[L[n], U[n]]")
        low, high = self.number(t.lower), self.number(t.upper)
        if low is not None and high is not None and low >= high:
            self.err(f"T[{pretty.expr(t.lower)}, {pretty.expr(t.upper)}] is empty: its lower "
                     "end must be below its upper end", t.span, "swap or fix the ends")
        self.truncation_agrees(s, spec, [b for b in declared if b is not None])

    def truncation_agrees(self, s: ast.Sample, spec, declared: list[ast.Bounds]) -> None:
        """Declared bounds next to ``T[L, U]`` must name the same ends, except a declared end
        at or beyond the support (``int >= 0`` for counts), which restricts nothing."""
        floor, ceiling = _SUPPORT_ENDS.get(spec.support, (None, None))
        t = s.truncation
        for b in declared:
            for mine, theirs, edge, beyond in ((b.lower, t.lower, floor, -1),
                                               (b.upper, t.upper, ceiling, 1)):
                if mine is None:
                    continue
                value = self.number(mine)
                if value is not None and edge is not None and (value - edge) * beyond >= 0:
                    continue
                same = theirs is not None and (
                    pretty.expr(mine) == pretty.expr(theirs)
                    or (value is not None and value == self.number(theirs)))
                if not same:
                    self.err(f"the declared bounds{pretty.bounds(b)} and "
                             f"{pretty.truncation(t).strip()} disagree about '{s.name}'",
                             t.span, "give the bounds once, in T[...] or on the declaration, "
                             "or make them the same")
                    return

    def number(self, e: ast.Expr | None) -> float | None:
        """The value of a number, a negated number or an integer of the data; else None."""
        if isinstance(e, ast.Number):
            return float(e.value)
        if isinstance(e, ast.Unary) and e.op == "-" and isinstance(e.operand, ast.Number):
            return -float(e.operand.value)
        value = self.const(e) if e is not None else None
        return float(value) if isinstance(value, int) else None

    def observed_definition(self, name, define, sample, span, deps) -> Symbol:
        """``name = expr`` of the data alone, also given a distribution: observed, as Stan's
        ``~`` on transformed data."""
        t = self.definition(define)
        local = _indices(define)
        of_data = self.is_data_only(define.expr, local)
        spec = DISTRIBUTIONS.get(sample.dist.func)
        if not t.is_error and not of_data and spec is not None and spec.discrete:
            # Stan's `~` on a transformed parameter: its density is added to the target
            # (lint.py warns where a Jacobian may be missing); a computed real value has no
            # probability mass, so a discrete family cannot be its distribution.
            self.err(f"'{name}' is computed from parameters, so it is a real number and "
                     f"cannot have the discrete distribution {spec.name}", sample.dist.func_span,
                     "give it a continuous distribution, or observe data instead")
            return Symbol(name, "observable", ERROR, span, sample=sample, define=define,
                          depends=frozenset(deps))
        if sample.type is not None:
            self.err(f"'{name}' is defined on line {define.span.line}; its type comes from "
                     "the definition", sample.name_span, "drop the type annotation")
        t = self.sampled(sample, None if t.is_error else t, define)
        self.truncation(sample, (), t, latent=False)
        return Symbol(name, "observable", t, span, sample=sample, define=define,
                      depends=frozenset(deps), data_only=of_data)

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

    def indexed_lhs_error(self, st: ast.Define | ast.Sample, op: str) -> Type | None:
        """``x[i] = ...`` / ``x[i] ~ ...`` needs a range over ``i``; None when it is fine."""
        c = st.comprehension
        indices = (st.index_var, *st.inner_vars) if st.index_var is not None else ()
        if c is None and indices:
            ranges = ", ".join(f"{v} in 1:N{k + 1 if len(indices) > 1 else ''}"
                               for k, v in enumerate(indices))
            return self.err(f"'{st.name}[{', '.join(indices)}]' needs a range", st.name_span,
                            f"add `for {ranges}` at the end of the line")
        if c is not None and indices != c.variables:
            if len(indices) == 1 and len(c.variables) == 1:
                return self.err(f"the index '{st.index_var}' must be the variable of the range, "
                                f"'{c.var}'", st.name_span,
                                f"write {st.name}[{c.var}] {op} ...")
            want = ", ".join(c.variables)
            return self.err(f"the indices [{', '.join(indices) or ''}] must be the variables "
                            f"of the range, in order: [{want}]", st.name_span,
                            f"write {st.name}[{want}] {op} ...")
        return None

    def definition(self, d: ast.Define) -> Type:
        problem = self.indexed_lhs_error(d, "=")
        if problem is not None:
            return problem
        if d.comprehension is None:
            return self.expr(d.expr, {})
        c = d.comprehension
        grid = self.grid(c)
        uses = [n for n in ast.free_names(d.expr) if n.id == d.name]
        if uses and c.inner is not None:
            return self.err(f"'{d.name}' is defined over several indices and refers to itself; "
                            "a recursion runs over one index", uses[0].span,
                            f"define '{d.name}' over one index (a recursion over "
                            f"{c.var}), with the other dimensions inside each element")
        if uses:
            item = self.recursion(d, grid.shape[0], grid.dim_names[0])
        else:
            item = self.expr(d.expr, {v: INT for v in c.variables})
        if item.is_error:
            return ERROR
        if c.inner is None:
            self.errors += coverage_errors(d, self.const)
        for r in c.ranges if c.inner is not None else ():
            if self.const(r.lo) not in (1, None):
                self.err("a definition over several indices must start each at 1", r.lo.span,
                         f"write for {r.var} in 1:..., so that {d.name}[1, ...] is the first "
                         "element")
        return Type(item.elem, grid.shape + item.shape, grid.dim_names + item.dim_names)

    def sampled(self, s: ast.Sample, declared: Type | None, data) -> Type:
        local = {}
        length = None
        problem = self.indexed_lhs_error(s, "~")
        if problem is not None:
            return problem
        if s.comprehension is not None:
            c = s.comprehension
            length = self.grid(c)
            local = {v: INT for v in c.variables}
            if data is None and is_markov_chain({"sample": s}) and c.inner is not None:
                return self.err(f"'{s.name}' is a Markov chain over several indices; a chain "
                                "runs over one index", s.name_span,
                                f"write {s.name}[{c.var}] ~ ... for {c.var} in ...")
            if data is None and is_markov_chain({"sample": s}) and \
                    not self.markov_chain(s, length.shape[0]):
                return ERROR
        if s.pieces:
            self.errors += coverage_errors(s, self.const, from_one=False)
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
        if spec.discrete and data is None and length is not None and \
                s.comprehension.inner is not None:
            return self.err(f"'{s.name}' is a discrete parameter over several indices, which "
                            "is not summed out", s.name_span,
                            f"give '{s.name}' one index ({s.name}[n] ~ ... for n in ...), or "
                            "declare it as data")
        if spec.discrete and declared is not None and declared.elem != "int":
            self.err(f"{spec.name} is a distribution over integers, but '{s.name}' is declared "
                     f"{declared.describe()}", s.name_span,
                     f"declare '{s.name}' as int (e.g. int[N])")
        if spec.name in ("lkj_corr_cholesky", "lkj_corr"):
            if declared is not None and declared.rank > 2:
                return self.err(f"{spec.name} over an array of matrices is not supported",
                                s.dist.span, f"declare each matrix on its own ({s.name}: "
                                f"matrix[K, K] ~ {spec.name}(eta)), or give the array no prior")
            if declared is None or declared.rank != 2 or \
                    dims_equal(declared.shape[0], declared.shape[1]) is False:
                return self.err(f"{spec.name} needs the size of the (square) matrix",
                                s.name_span,
                                f"declare it: {s.name}: matrix[K, K] ~ {spec.name}(eta)")
            return declared.with_elem("real")
        if length is not None:
            return self.ranged_variate(s, declared, item, length)
        if declared is None:
            return item
        if spec.event_rank and item.rank == spec.event_rank and declared.rank > item.rank \
                and same_shape(item, Type("real", declared.shape[-item.rank:])):
            return declared  # an array of vectors (matrices): one draw per element
        if item.rank and not same_shape(item, declared):
            return self.err(
                f"'{s.name}' is {declared.describe()}, but its distribution has shape "
                f"{item.describe()}", s.dist.span,
                f"{spec.name} gives one value per row of x: '{s.name}' needs as many elements "
                "as x has rows" if spec.batch_rows else
                "the arguments must be scalars or have the variable's shape; broadcasting is "
                "explicit in ppl")
        return declared

    def ranged_variate(self, s: ast.Sample, declared: Type | None, item: Type,
                       grid: Type) -> Type:
        """The type of ``x[n] ~ ... for n in lo:hi`` (or over a grid ``for n in .., k in
        ..``): one ``item`` per index, which must agree with the declaration, whose extents
        the ranges must stay within."""
        whole = Type(item.elem, grid.shape + item.shape, grid.dim_names + item.dim_names)
        ranges = s.comprehension.ranges
        if declared is None:
            for r in ranges:
                if self.const(r.lo) not in (1, None):
                    self.err("a parameter defined by a range must start at 1", r.lo.span,
                             f"write for {r.var} in 1:..., or declare '{s.name}' as data")
            return whole
        k = len(ranges)
        if declared.rank != whole.rank or not same_shape(
                Type("real", declared.shape[k:]), Type("real", whole.shape[k:])):
            element = f"{s.name}[{', '.join(s.comprehension.variables)}]"
            return self.err(f"'{s.name}' is {declared.describe()}, but each "
                            f"{element} here is {item.describe()}",
                            s.name_span, "make the per-element shape match the declaration")
        for r, size in zip(ranges, declared.shape):
            lo, hi = self.const(r.lo), self.const(r.hi)
            if isinstance(lo, int) and isinstance(hi, int) and isinstance(size, int) and (
                    lo < 1 or hi > size):
                self.err(f"the range {lo}:{hi} is outside 1:{size}, the size of '{s.name}'",
                         r.span, "indices are 1-based and both ends included")
        return declared
