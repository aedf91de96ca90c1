"""Expressions -> JAX operations. Runs while JAX traces, so its Python cost is paid once per
compilation, never per draw or per data row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jax_core

from ppl.frontend import ast
from ppl.library.functions import FUNCTIONS, implementation
from ppl.library.ode import ODE_SOLVERS

_ELEMENTWISE = {
    "+": jnp.add, "-": jnp.subtract, ".*": jnp.multiply, "/": jnp.true_divide,
    "./": jnp.true_divide, "%": jnp.mod,
    # ``a ^ b`` is ``pow(a, b)``: real-valued (2 ^ -1 is 0.5), with its gradient at 0 defined.
    "^": implementation(FUNCTIONS["pow"], 2),
}
_COMPARE = {
    "==": jnp.equal, "!=": jnp.not_equal, "<": jnp.less, "<=": jnp.less_equal,
    ">": jnp.greater, ">=": jnp.greater_equal, "&&": jnp.logical_and, "||": jnp.logical_or,
}


def evaluate(e: ast.Expr, env: Mapping[str, jax.Array]) -> jax.Array:
    """The value of ``e`` with names looked up in ``env``."""
    if isinstance(e, ast.Number):
        return jnp.asarray(e.value) if isinstance(e.value, int) else e.value
    if isinstance(e, ast.Name):
        return env[e.id]
    if ast.may_be_row(e):
        return _product(e, env)[1]
    if isinstance(e, ast.Unary):
        value = evaluate(e.operand, env)
        return -value if e.op == "-" else jnp.logical_not(value).astype(jnp.int32)
    if isinstance(e, ast.Binary):
        return _binary(e.op, evaluate(e.left, env), evaluate(e.right, env))
    if isinstance(e, ast.Call):
        if e.func in ODE_SOLVERS:
            return _ode_solve(e, env)
        spec = FUNCTIONS.get(e.func)
        if spec is not None and spec.rule == "sized" and function_key(e.func) not in env:
            return _sized_call(e, env)
        args = [evaluate(a.value, env) for a in e.args]
        if function_key(e.func) in env:
            return _user_call(env[function_key(e.func)], args, env)
        if e.func not in FUNCTIONS:
            return _log_density_call(e.func, args)
        return implementation(FUNCTIONS[e.func], len(e.args))(*args)
    if isinstance(e, ast.Conditional):
        return _conditional(e, env)
    if isinstance(e, ast.ArrayComprehension):
        return map_over(e.comprehension, env, lambda scope: evaluate(e.item, scope))
    if isinstance(e, ast.Index):
        return index(evaluate(e.base, env), e.indices, env)
    if isinstance(e, ast.ArrayLiteral):
        return jnp.stack([jnp.asarray(evaluate(i, env)) for i in e.items])
    raise TypeError(f"cannot evaluate {e!r}")


def _sized_call(e: ast.Call, env):
    """``rep_vector(x, n)`` and the other functions with size arguments: the sizes as Python
    ints (the checker made sure they are known from the data), the other arguments traced."""
    from ppl.library.functions import SIZED

    sizes = SIZED[e.func][len(e.args)]
    args = [concrete_int(a.value, env) if k in sizes else evaluate(a.value, env)
            for k, a in enumerate(e.args)]
    return implementation(FUNCTIONS[e.func], len(args))(*args)


def function_key(name: str) -> str:
    """Where a user-defined function lives in an environment (not a valid model name)."""
    return f"function {name}"


def _functions(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith("function ")}


def _user_call(f: ast.FunctionDef, args: list, env):
    scope = {**_functions(env), **{name: value for (name, _), value in zip(f.params, args)}}
    return evaluate(f.body, scope)


def _ode_solve(e: ast.Call, env):
    """Solve dz/dt = f(t, z, a1, ..) with the diffrax solver the call names and an adaptive
    PID step size controller; differentiable (reverse mode through the solver's checkpointed
    steps)."""
    import diffrax

    positional = [a.value for a in e.args if a.name is None]
    # The checker allows only number literals as options: they stay Python numbers under jit.
    options = {a.name: a.value.value for a in e.args if a.name is not None}
    f = env[function_key(positional[0].id)]
    z0, t0, ts = (jnp.asarray(evaluate(a, env), float) for a in positional[1:4])
    extra = tuple(evaluate(a, env) for a in positional[4:])
    _check_times(t0, ts, positional[3])

    def rhs(t, z, args):
        return jnp.asarray(_user_call(f, [t, z, *args], env), z.dtype)

    solver = getattr(diffrax, ODE_SOLVERS[e.func].diffrax_solver)()
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs), solver, t0=t0, t1=ts[-1], dt0=None, y0=z0, args=extra,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=options.get("rtol", 1e-6),
                                                  atol=options.get("atol", 1e-6)),
        max_steps=int(options.get("max_steps", 4096)), throw=False)
    # A failed solve (too many steps at extreme parameters during warmup) gives NaN, so the
    # sampler rejects that point instead of the whole run stopping.
    ok = solution.result == diffrax.RESULTS.successful
    return jnp.where(ok, solution.ys, jnp.nan)


def _check_times(t0, ts, where: ast.Expr) -> None:
    """Times known before sampling (data) that do not increase are the data's mistake; diffrax
    would stop with an error of its own from inside the solver."""
    if isinstance(t0, jax.core.Tracer) or isinstance(ts, jax.core.Tracer):
        return
    times = np.concatenate([np.atleast_1d(np.asarray(t0)), np.ravel(np.asarray(ts))])
    if np.all(np.isfinite(times)) and np.all(np.diff(times[1:]) > 0) and times[0] <= times[1]:
        return
    from ppl.errors import DataError, error

    raise DataError([error("the output times of ode_solve must be finite, increase strictly "
                           "and start at or after the initial time", where.span,
                           "check the data for these times (sorted, no repeats)")])


def _log_density_call(func: str, args: list):
    """``normal_lpdf(y, mu, sigma)``: the element-wise log-density of a univariate family; a
    GLM form's is the sum over the rows of x (Stan's: one real)."""
    from ppl.library.cdfs import cdf_spec, evaluate_cdf
    from ppl.library.distributions import build_distribution, density_spec

    cdf = cdf_spec(func)
    spec = density_spec(func)
    if cdf is None and (spec.event_rank or any(spec.ranks())):  # one per vector or matrix
        value = jnp.asarray(args[0], jnp.result_type(args[0], 1.0))
        dist = build_distribution(spec, list(args[1:]), jnp.shape(value))
        # NumPyro broadcasts several values against one mean inside log_prob: a batch the
        # checker has already matched (strict rank promotion is for code of ppl's own).
        with jax.numpy_rank_promotion("allow"):
            density = dist.log_prob(value)
        return jnp.sum(density) if spec.batch_rows else density
    shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in args))
    value, *params = (jnp.broadcast_to(jnp.asarray(a), shape) for a in args)
    if cdf is not None:
        return evaluate_cdf(cdf, value, params)
    dist = build_distribution(spec, params, shape)
    if spec.one_based:
        return dist.log_prob(value - 1)
    if not spec.discrete and not jnp.issubdtype(value.dtype, jnp.floating):
        value = jnp.asarray(value, jnp.result_type(value, 1.0))  # log() of an int array fails
    return dist.log_prob(value)


def _conditional(e: ast.Conditional, env):
    """Only the chosen branch runs (lax.cond), so the other may be undefined there: e.g. the
    first element of a recursion reading x[t - 1]."""
    # Each branch is traced once, to a jaxpr whose output type is then known; replaying the
    # jaxpr inside lax.cond does not run this evaluator again. Tracing a branch a second time
    # (once for its type, once for the cond) doubled the work per nested conditional, so an
    # else-if chain of 14 took a minute to compile.
    branches = [jax.make_jaxpr(lambda b=b: jnp.asarray(evaluate(b, env)), return_shape=True)()
                for b in (e.then, e.orelse)]
    dtype = jnp.result_type(*(kind.dtype for _, kind in branches))
    shape = jnp.broadcast_shapes(*(kind.shape for _, kind in branches))

    def replay(jaxpr):
        (value,) = jax_core.jaxpr_as_fun(jaxpr)()
        return jnp.broadcast_to(jnp.asarray(value, dtype), shape)

    cond = jnp.asarray(evaluate(e.cond, env)) != 0
    (then, _), (orelse, _) = branches
    return lax.cond(cond, lambda: replay(then), lambda: replay(orelse))


def _product(e: ast.Expr, env) -> tuple[bool, jax.Array]:
    """``(is_row, value)`` of an expression that may hold a transposed vector, as the checker
    types it (:meth:`ExpressionTyper.product`): a row is held as the vector it came from, and
    the checker has made sure that a row is only ever multiplied."""
    if ast.is_transpose(e):
        operand = e.args[0].value
        was_row, value = _product(operand, env) if ast.may_be_row(operand) \
            else (False, jnp.asarray(evaluate(operand, env)))
        if was_row:  # (x' * A)' is the vector A' x
            return False, value
        return value.ndim == 1, value if value.ndim == 1 else value.T
    if isinstance(e, ast.Unary):
        row, value = _product(e.operand, env)
        return row, -value
    if not isinstance(e, ast.Binary):
        return False, evaluate(e, env)
    (left_row, a), (right_row, b) = _product(e.left, env), _product(e.right, env)
    if not left_row and not right_row:
        return False, _binary(e.op, a, b)
    other = b if left_row else a
    if jnp.ndim(other) == 0:
        return True, jnp.multiply(a, b)
    if left_row:  # x' * y is a scalar, x' * A a row: both are y' x, A' x
        return jnp.ndim(other) == 2, jnp.matmul(a, b)
    return False, jnp.outer(a, b)  # x * y'


def _binary(op: str, a, b):
    if op == "*":
        if jnp.ndim(a) == 2 and jnp.ndim(b) in (1, 2):
            return jnp.matmul(a, b)
        return jnp.multiply(a, b)
    if op in _COMPARE:
        return _COMPARE[op](a, b).astype(jnp.int32)
    return _ELEMENTWISE[op](a, b)


@dataclass(frozen=True)
class Constant:
    """An array whose elements all equal ``value``: a discrete latent set to one value while it
    is summed out. Indexing it element by element gives ``value`` itself, so ``mu[z[n]]``
    becomes ``mu[k]``, one dynamic index, instead of a gather over n (and a scatter in the
    gradient)."""

    value: jax.Array
    shape: tuple[int, ...]

    def materialise(self) -> jax.Array:
        return jnp.full(self.shape, self.value)


def index(value, items, env) -> jax.Array:
    """1-based indexing, one axis at a time (outer indexing, as in Stan and R)."""
    if isinstance(value, Constant):
        if len(items) == len(value.shape) and not any(isinstance(i, ast.Slice) for i in items):
            shapes = [jnp.shape(evaluate(i, env)) for i in items]
            return jnp.broadcast_to(value.value, tuple(d for s in shapes for d in s))
        value = value.materialise()
    axis = 0
    for item in items:
        if isinstance(item, ast.Slice) and _moves(item, env):
            start, width = _window(item, env, value.shape[axis])
            value = lax.dynamic_slice_in_dim(value, start - 1, width, axis=axis)
            axis += 1
            continue
        if isinstance(item, ast.Slice):
            lo = 1 if item.lo is None else concrete_int(item.lo, env)
            hi = value.shape[axis] if item.hi is None else concrete_int(item.hi, env)
            value = lax.slice_in_dim(value, lo - 1, hi, axis=axis)
            axis += 1
            continue
        i = jnp.asarray(evaluate(item, env))
        if value.shape[axis] == 0:
            # Nothing to read (a size-0 axis indexed by a parameter, say): every element is
            # out of range, NaN for reals as below; jnp.take refuses an empty axis.
            shape = value.shape[:axis] + i.shape + value.shape[axis + 1:]
            value = jnp.full(shape, jnp.nan if jnp.issubdtype(value.dtype, jnp.floating)
                             else 0, value.dtype)
        elif jnp.issubdtype(value.dtype, jnp.floating):
            value = jnp.take(value, i - 1, axis=axis, mode="fill", fill_value=jnp.nan)
        else:
            value = jnp.take(value, i - 1, axis=axis, mode="clip")
        axis += jnp.ndim(i)
    return value


def _is_range_variable(value) -> bool:
    """Range variables are the only traced integer scalars (data is concrete)."""
    return (isinstance(value, jax.core.Tracer) and jnp.ndim(value) == 0
            and jnp.issubdtype(value.dtype, jnp.integer))


def _moves(item: ast.Slice, env) -> bool:
    from ppl.frontend.ast import free_names

    return any(_is_range_variable(env.get(n.id)) for end in (item.lo, item.hi)
               for n in free_names(end))


def _window(item: ast.Slice, env, size: int):
    """Start (traced) and fixed length of a window such as ``y[t - K:t - 1]``; the checker has
    made sure the length does not depend on the range variable."""
    frozen = {k: (0 if _is_range_variable(v) else v) for k, v in env.items()}
    lo0 = 1 if item.lo is None else concrete_int(item.lo, frozen)
    hi0 = size if item.hi is None else concrete_int(item.hi, frozen)
    start = 1 if item.lo is None else evaluate(item.lo, env)
    return start, hi0 - lo0 + 1


def concrete_int(e: ast.Expr, env) -> int:
    """An integer known from the data (a slice end, a range end) as a Python int. Evaluated
    eagerly: inside a trace even the literal ``1`` would otherwise become a tracer."""
    with jax.ensure_compile_time_eval():
        return int(evaluate(e, env))


def comprehension_range(c: ast.Comprehension, env) -> np.ndarray:
    """The integer range of a ``for i in lo:hi`` as a concrete array (sizes are data; NumPy, so
    that it stays concrete while a log-density is traced)."""
    lo = concrete_int(c.lo, env)
    hi = concrete_int(c.hi, env)
    return np.arange(lo, hi + 1)


def map_over(c: ast.Comprehension, env, body):
    """``body(env with c.var bound)`` for every value of the range, vectorised with vmap; over
    a grid (``for n in 1:N, k in 1:K``) one vmap per index, nested, the first outermost."""
    values = comprehension_range(c, env)

    def one(i):
        scope = {**env, c.var: i}
        return body(scope) if c.inner is None else map_over(c.inner, scope, body)

    return jax.vmap(one)(values)


def _defined_value(define: ast.Define, env):
    if define.comprehension is None:
        return evaluate(define.expr, env)
    return map_over(define.comprehension, env, lambda scope: evaluate(define.expr, scope))


def integer_definitions(symbols: Mapping[str, Any], data: Mapping[str, Any],
                        sizes: Mapping[str, int], functions=()) -> dict[str, int]:
    """The values of the integers defined from the data alone (``m = max(y)``), evaluated on
    the data in dependency order, so that they can size parameters. One that cannot be
    evaluated (data still to be validated) is left out: the data's own error comes later."""
    env: dict[str, Any] = {}
    for name, value in data.items():
        try:
            env[name] = np.asarray(value)
        except ValueError:  # ragged: data validation says where
            continue
    env.update(sizes)
    env.update({function_key(f.name): f for f in functions})
    found: dict[str, int] = {}
    for sym in symbols.values():
        # Integer arrays too (m[i], the largest response of item i), since a size may be
        # computed from them (sum(m) - 1); a recursion is left to the compiled program.
        if sym.kind != "defined" or not sym.data_only or sym.define is None \
                or sym.type is None or sym.type.elem != "int" or sym.name in sym.depends:
            continue
        try:
            with jax.ensure_compile_time_eval():
                value = np.asarray(_defined_value(sym.define, env))
        except Exception:  # noqa: BLE001 -- reported by data validation or compilation
            continue
        if value.dtype.kind not in "iu":
            continue
        env[sym.name] = value
        if value.shape == ():
            found[sym.name] = int(value)
    return found
