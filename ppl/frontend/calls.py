"""The types pass, calls: library functions (by their shape rule), log-density functions
(``normal_lpdf``), user-defined functions, ``ode_solve``, and distributions on the right of
``~`` (argument binding by position or name, and the shape of the variate).

A distribution's variate has the batch shape of its arguments (combined strictly element-wise)
followed by its event shape; a function's result follows its registry rule (element-wise,
reduction, matrix, solve, ...).
"""

from __future__ import annotations

from ppl.frontend import ast
from ppl.frontend.names import suggest
from ppl.frontend.shapes import ShapeRules
from ppl.frontend.types import ERROR, REAL, Type, dims_equal, same_shape
from ppl.library.cdfs import cdf_spec
from ppl.library.distributions import DISTRIBUTIONS, DistributionSpec, density_spec
from ppl.library.functions import ARITY, FUNCTIONS, SIZED
from ppl.library.ode import ODE_OPTIONS, ODE_SOLVERS


class CallTyper(ShapeRules):
    """The types of calls and distributions."""

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
        """``ode_solve(f, z0, t0, ts, a1, a2, .., rtol = .., atol = .., max_steps = ..)``: the
        right-hand side is ``f(t, z, a1, a2, ..)``; the extra arguments (none or more) carry
        parameters and data, as Stan's variadic ODE solvers do."""
        positional = [a for a in e.args if a.name is None]
        options = [a for a in e.args if a.name is not None]
        usage = (f"{e.func}(f, z0, t0, ts, ...) with f(t: real, z: vector[n], ...), the dots "
                 "being the extra arguments passed on to f")
        if len(positional) < 4:
            return self.err(f"{e.func} takes at least 4 arguments (f, z0, t0, ts), then the "
                            f"extra arguments of f; not {len(positional)}", e.span, usage)
        if options and e.args.index(positional[-1]) > e.args.index(options[0]):
            return self.err(f"the options of {e.func} come after its arguments",
                            options[0].span, usage)
        for a in options:
            if a.name not in ODE_OPTIONS:
                return self.err(f"{e.func} has no option '{a.name}'", a.span,
                                f"its options are {', '.join(ODE_OPTIONS)}")
            # Options are settings of the solver, fixed when it is compiled: a number written
            # in the model, not a quantity (data values are arguments of the compiled program).
            if not isinstance(a.value, ast.Number) or a.value.value <= 0:
                return self.err(f"the option {a.name} of {e.func} must be a positive number "
                                "written in the model", a.value.span,
                                f"write {a.name} = 1e-8, say")
        rhs = positional[0].value
        f = self.functions.get(rhs.id) if isinstance(rhs, ast.Name) else None
        if f is None:
            return self.err(f"the first argument of {e.func} must be the name of a function",
                            positional[0].span, usage)
        z0, t0, ts, *extra = (self.expr(a.value, local) for a in positional[1:])
        if any(t.is_error for t in (z0, t0, ts, *extra)):
            return ERROR
        if len(f.params) != 2 + len(extra):
            return self.err(
                f"the right-hand side {f.name}() takes {len(f.params)} arguments, so "
                f"{e.func} must pass it {len(f.params) - 2} extra argument(s) after ts, "
                f"not {len(extra)}", positional[0].span, usage)
        want = [self.signature_type(t) for _, t in f.params]
        out = self.signature_type(f.returns)
        if want[0].rank != 0 or z0.rank != 1 or not same_shape(want[1], z0) \
                or not same_shape(out, z0):
            return self.err(
                f"{f.name}() does not fit this {e.func}: its state argument is "
                f"{want[1].describe()} and it returns {out.describe()}, but the initial state "
                f"is {z0.describe()}", positional[0].span, usage)
        for (pname, _), w, got, a in zip(f.params[2:], want[2:], extra, positional[4:]):
            if not same_shape(w, got):
                return self.err(f"argument {pname} of {f.name}() is {w.describe()}, but "
                                f"{e.func} passes {got.describe()}", a.span, usage)
        if t0.rank != 0 or ts.rank != 1:
            return self.err(f"{e.func} needs a scalar initial time and a vector of output "
                            "times", e.span, usage)
        return Type("real", (ts.shape[0], z0.shape[0]), (ts.dim_names[0], None))

    def density(self, e: ast.Call, spec: DistributionSpec, local) -> Type:
        """``normal_lpdf(y, mu, sigma)``: element-wise log-density of a univariate family;
        ``multi_normal_lpdf(y, mu, Sigma)``: one log-density per vector (matrix) of ``y``;
        a GLM form (``normal_id_glm_lpdf(y, x, alpha, beta, sigma)``): the sum over the rows of
        x, a real (as Stan's)."""
        want = 1 + len(spec.params)
        if len(e.args) != want or any(a.name for a in e.args):
            return self.err(f"{e.func}() takes {want} plain arguments (the value, then "
                            f"{', '.join(spec.params)}), not {len(e.args)}", e.span)
        if spec.batch_rows:
            rows = self.multivariate_density(e, spec, local)
            return rows if rows.is_error else Type("real")
        if spec.event_rank or any(spec.ranks()):
            return self.multivariate_density(e, spec, local)
        types = [self.expr(a.value, local) for a in e.args]
        if any(t.is_error for t in types):
            return ERROR
        return self.broadcast_all(types, e.args, f"the arguments of {e.func}")

    def multivariate_density(self, e: ast.Call, spec: DistributionSpec, local) -> Type:
        """The value's last ``event_rank`` sizes are the distribution's event; its leading
        sizes (several vectors, the rows of a matrix) broadcast with the arguments' batch."""
        value = self.expr(e.args[0].value, local)
        _, variate = self.distribution(ast.Call(spec.name, e.args[1:], e.span, e.func_span),
                                       local)
        if value.is_error or variate.is_error:
            return ERROR
        rank = spec.event_rank
        event, value_event = variate.shape[variate.rank - rank:], value.shape[value.rank - rank:]
        if value.rank < rank or any(dims_equal(a, b) is False
                                    for a, b in zip(event, value_event)):
            return self.err(f"the value of {e.func}() must end with the shape of one draw, "
                            f"{Type('real', event).describe()}, but it is {value.describe()}",
                            e.args[0].span, f"pass one {spec.name} draw, or an array of them")
        batch = self.elementwise(
            Type("real", value.shape[:value.rank - rank], value.dim_names[:value.rank - rank]),
            Type("real", variate.shape[:variate.rank - rank],
                 variate.dim_names[:variate.rank - rank]),
            e.args[0].value, f"the value and the arguments of {e.func}")
        return ERROR if batch is None else batch

    def call(self, e: ast.Call, local) -> Type:
        if e.func in self.functions:
            return self.user_call(e, self.functions[e.func], local)
        if e.func in ODE_SOLVERS:
            return self.ode_call(e, local)
        spec = FUNCTIONS.get(e.func)
        if spec is None and cdf_spec(e.func) is not None:
            return self.density(e, cdf_spec(e.func).spec, local)
        if spec is None:
            dspec = density_spec(e.func)
            return self.density(e, dspec, local) if dspec is not None else ERROR
        args = [self.expr(a.value, local) for a in e.args]
        for a in e.args:
            if a.name is not None:
                return self.err(f"{e.func}() takes no argument names", a.span,
                                f"write {e.func}(x) with plain arguments")
        lo, hi = ARITY[spec.rule]
        if spec.rule == "sized" and len(args) not in SIZED[e.func]:
            counts = sorted(SIZED[e.func])
            want = " or ".join(str(n) for n in counts)
            return self.err(f"{e.func}() takes {want} argument{'s' if counts[-1] > 1 else ''}, "
                            f"not {len(args)}", e.span, f"{e.func}: {spec.doc}")
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
        if rule == "constant":
            return REAL
        if rule == "kron":
            if any(t.rank != 2 for t in args):
                bad = next(i for i, t in enumerate(args) if t.rank != 2)
                return self.err(f"{e.func}() needs two matrices, not {args[bad].describe()}",
                                e.args[bad].span)
            return Type("real", tuple(_product(a, b) for a, b in zip(args[0].shape,
                                                                     args[1].shape)))
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
            if e.func in ("diagonal", "eigenvalues_sym"):
                return Type("real", t.shape[:1], t.dim_names[:1])
            if e.func in ("columns_dot_self", "rows_dot_self"):
                axis = 1 if e.func == "columns_dot_self" else 0
                return Type("real", t.shape[axis:axis + 1], t.dim_names[axis:axis + 1])
            if e.func == "to_vector":
                size = (t.shape[0] * t.shape[1] if all(isinstance(d, int) for d in t.shape)
                        else f"{t.shape[0]} * {t.shape[1]}")
                return Type(t.elem, (size,))
            return t.with_elem("real")
        if rule == "sized":
            return self.sized_call(e, args, local)
        if rule == "dims":
            need = {"rows": 1, "cols": 2}.get(e.func, 0)
            if args[0].rank < need:
                kind = "a matrix" if need == 2 else "a vector, array or matrix"
                return self.err(f"{e.func}() needs {kind}, not {args[0].describe()}",
                                e.args[0].span)
            return Type("int")
        if rule == "ternary":
            return self.broadcast_all(args, e.args, f"the arguments of {e.func}()")
        if rule == "vector_reduce":
            if args[0].rank != 1:
                return self.err(f"{e.func}() needs a vector, not {args[0].describe()}",
                                e.args[0].span)
            return REAL
        if rule == "square_reduce":
            t = args[0]
            if t.rank != 2 or dims_equal(t.shape[0], t.shape[1]) is False:
                return self.err(f"{e.func}() needs a square matrix, not {t.describe()}",
                                e.args[0].span)
            return REAL
        if rule == "gram":
            t = args[0]
            if t.rank != 2:
                return self.err(f"{e.func}() needs a matrix, not {t.describe()}", e.args[0].span)
            axis = 1 if e.func == "crossprod" else 0
            return Type("real", (t.shape[axis],) * 2, (t.dim_names[axis],) * 2)
        if rule == "diag_multiply":
            pre = e.func == "diag_pre_multiply"
            v, m = args if pre else args[::-1]
            axis = 0 if pre else 1
            usage = "diag_pre_multiply(v, M)" if pre else "diag_post_multiply(M, v)"
            if v.rank != 1 or m.rank != 2 or dims_equal(v.shape[0], m.shape[axis]) is False:
                return self.err(f"{usage} needs a vector v with one element per "
                                f"{'row' if pre else 'column'} of the matrix M, not "
                                f"{v.describe()} and {m.describe()}", e.span)
            return m.with_elem("real")
        if rule in ("quad_form", "quad_form_diag"):
            a, b = args
            square = a.rank == 2 and dims_equal(a.shape[0], a.shape[1]) is not False
            ranks = (1, 2) if rule == "quad_form" else (1,)
            if not square or b.rank not in ranks or dims_equal(a.shape[0], b.shape[0]) is False:
                want = ("a vector or matrix B with as many rows as A" if rule == "quad_form"
                        else "a vector with one element per row of the matrix")
                return self.err(f"{e.func}() needs a square matrix and {want}, not "
                                f"{a.describe()} and {b.describe()}", e.span)
            if rule == "quad_form_diag":
                return a.with_elem("real")
            if b.rank == 1:
                return REAL
            return Type("real", (b.shape[1],) * 2, (b.dim_names[1],) * 2)
        if rule == "gp":
            x, *scales = args
            if x.rank != 1 or any(t.rank for t in scales):
                return self.err(f"{e.func}(x, alpha, rho) needs a vector of inputs and scalar "
                                f"alpha and rho", e.span)
            return Type("real", x.shape * 2, x.dim_names * 2)
        if rule == "solve":
            lower, b = args
            if lower.rank != 2 or b.rank not in (1, 2) or \
                    dims_equal(lower.shape[0], lower.shape[1]) is False or \
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
            if m.rank != 2 or d.rank > 1 or dims_equal(m.shape[0], m.shape[1]) is False:
                return self.err(f"add_diag(M, d) needs a square matrix and a scalar or vector, "
                                f"not {m.describe()} and {d.describe()}", e.span)
            if d.rank == 1 and dims_equal(d.shape[0], m.shape[0]) is False:
                return self.err(f"add_diag(M, d): d has {d.shape[0]} elements, but M is "
                                f"{m.shape[0]} x {m.shape[1]}", e.span,
                                "give one element per row of M, or a scalar for all of them")
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
                return self.err(f"{e.func}() needs two vectors of the same length, not "
                                f"{args[0].describe()} and {args[1].describe()}", e.span)
            return REAL
        shape = self.elementwise(args[0], args[1], e, f"{e.func}()")
        return ERROR if shape is None else shape.with_elem(elem)

    def sized_call(self, e: ast.Call, args: list[Type], local) -> Type:
        """``rep_vector(x, n)``, ``rep_array(x, m, n)``, ``rep_matrix``, ``linspaced_vector(n,
        lo, hi)``, ...: the size arguments are ints known from the data (folded as declared
        sizes are), the others scalars (``rep_array``: any value; ``rep_matrix(v, n)``: a
        vector)."""
        where = SIZED[e.func][len(args)]
        dims, names = [], []
        for k in where:
            a = e.args[k].value
            what = f"the size argument {k + 1} of {e.func}()"
            if args[k].elem != "int" or args[k].rank != 0:
                return self.err(f"{what} must be an integer, not {args[k].describe()}", a.span,
                                f"{e.func}: {self.functions_doc(e.func)}")
            if any(n.id in local for n in ast.free_names(a)):
                return self.err(f"{what} must be known from the data, not from a loop or "
                                f"function argument", a.span,
                                "sizes are fixed before sampling; use int data")
            size = self.size(a, what)
            if size == "?":
                return ERROR
            if isinstance(size, int) and size < 0:
                return self.err(f"{what} must not be negative; here it is {size}", a.span)
            dims.append(size)
            names.append(a.id if isinstance(a, ast.Name) else None)
        values = [(t, e.args[k]) for k, t in enumerate(args) if k not in where]
        if e.func == "segment":
            start, where_start = values[1]
            if start.elem != "int" or start.rank != 0:
                return self.err(f"the start of segment(x, i, n) must be an integer, not "
                                f"{start.describe()}", where_start.span)
        if e.func in ("head", "tail", "segment"):
            t, a = values[0]
            if t.rank == 0:
                return self.err(f"{e.func}(x, n) needs a vector or array x, not "
                                f"{t.describe()}", a.span)
            if isinstance(t.shape[0], int) and isinstance(dims[0], int) \
                    and dims[0] > t.shape[0]:
                return self.err(f"{e.func}(x, n) takes {dims[0]} elements of x, which has "
                                f"only {t.shape[0]}", e.args[1].span)
            return Type(t.elem, (dims[0],) + t.shape[1:], (names[0],) + t.dim_names[1:])
        if e.func == "rep_array":
            t = values[0][0]
            return Type(t.elem, tuple(dims) + t.shape, tuple(names) + t.dim_names)
        if e.func == "rep_matrix" and len(args) == 2:
            v, a = values[0]
            if v.rank != 1:
                return self.err(f"rep_matrix(v, n) needs a vector v, not {v.describe()}",
                                a.span, "rep_matrix(x, m, n) repeats a scalar x")
            return Type("real", (v.shape[0], dims[0]), (v.dim_names[0], names[0]))
        for t, a in values:
            if t.rank != 0:
                return self.err(f"{e.func}() repeats a scalar, not {t.describe()}", a.span,
                                f"{e.func}: {self.functions_doc(e.func)}")
        return Type("real", tuple(dims), tuple(names))

    @staticmethod
    def functions_doc(name: str) -> str:
        return FUNCTIONS[name].doc

    def distribution(self, call: ast.Call, local) -> tuple[DistributionSpec | None, Type]:
        spec = DISTRIBUTIONS.get(call.func)
        if spec is None:
            if call.func in FUNCTIONS:
                self.err(f"'{call.func}' is a function, not a distribution", call.func_span,
                         "the right of '~' must be a distribution such as normal(mu, sigma)")
            else:
                self.err(f"unknown distribution '{call.func}'", call.func_span,
                         suggest(call.func, DISTRIBUTIONS) or
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
        if spec.batch_rows:
            return self.glm_shape(spec, types, args)
        batch = Type("real")
        event: tuple = ()
        event_names: tuple = ()
        for t, a, rank, pname in zip(types, args, spec.ranks(), spec.params):
            if t.rank < rank:
                kind = {1: "a vector", 2: "a matrix"}[rank]
                return self.err(f"argument {pname} of {spec.name} must be {kind}, not "
                                f"{t.describe()}", a.span)
            if rank == 2 and dims_equal(t.shape[-2], t.shape[-1]) is False:
                return self.err(f"argument {pname} of {spec.name} must be a square matrix, not "
                                f"{t.describe()}", a.span)
            if spec.event_rank == 2 and t.rank > rank:
                # NumPyro's matrix-variate families take no batch of parameters here: the
                # variate's shape comes from its declaration alone.
                return self.err(f"argument {pname} of {spec.name} must be a scalar, not "
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
                    # One draw of a matrix family is a matrix of its matrix argument's shape.
                    width = 2 if spec.event_rank == 2 else 1
                    event = t.shape[t.rank - rank:][:width]
                    event_names = t.dim_names[t.rank - rank:][:width]
        if spec.event_rank == 0:
            event, event_names = (), ()
        elem = "int" if spec.discrete else "real"
        return Type(elem, batch.shape + event, batch.dim_names + event_names)


    def glm_shape(self, spec, types, args) -> Type:
        """A GLM form: x is an N x K matrix, beta a vector of K, the other arguments scalars or
        vectors of N; the value has one element per row of x."""
        x, beta = types[0], types[2]
        if x.rank != 2:
            return self.err(f"argument x of {spec.name} must be a matrix (N x K, one row per "
                            f"value), not {x.describe()}", args[0].span,
                            f"{spec.name}({', '.join(spec.params)}): {spec.doc}")
        rows, cols = x.shape
        if beta.rank != 1 or dims_equal(beta.shape[0], cols) is False:
            return self.err(f"argument beta of {spec.name} must be a vector of {cols} "
                            f"coefficients (one per column of x), not {beta.describe()}",
                            args[2].span, "x * beta is the linear predictor: beta has as many "
                            "elements as x has columns")
        for t, a, pname in zip(types, args, spec.params):
            if pname in ("x", "beta"):
                continue
            if t.rank > 1 or (t.rank == 1 and dims_equal(t.shape[0], rows) is False):
                return self.err(f"argument {pname} of {spec.name} must be a scalar or a vector "
                                f"of {rows} (one per row of x), not {t.describe()}", a.span,
                                f"give one {pname} for all rows, or one per row of x")
        elem = "int" if spec.discrete else "real"
        return Type(elem, (rows,), (x.dim_names[0],))


def _product(a, b):
    """The size a * b, a number when both are known."""
    return a * b if isinstance(a, int) and isinstance(b, int) else f"({a}) * ({b})"
