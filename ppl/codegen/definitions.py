"""The values of definitions (``name = expr``, possibly over a range), for the compiled model.

A definition over a range that refers to its own earlier elements (``x[t] = f(x[t - 1], ...)
for t in 1:T``) is a recursion: it compiles to a ``lax.scan`` carrying the last values it needs,
never an unrolled loop, and a condition on the index alone splits the scan into runs so that no
step pays for a ``lax.cond``. Everything else is :func:`ppl.codegen.evaluate.evaluate` of the
expression, mapped over the range when there is one.

Both :mod:`ppl.codegen.model` and :mod:`ppl.codegen.marginal` (which re-evaluates the
definitions that depend on a summed-out discrete latent) compute definitions with
:func:`definition_value`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ppl.codegen.evaluate import comprehension_range, evaluate, map_over
from ppl.frontend import ast
from ppl.frontend.ast import free_names, recursion_lag, self_references
from ppl.frontend.joint import element_lag
from ppl.ir.graph import Node


def definition_value(node: Node, env):
    """The value of a definition ``name = expr`` (or its map over a range)."""
    d = node.symbol.define
    if node.symbol.joint:
        return _joint_recursion(node.symbol.joint, env)[d.name]
    if d.comprehension is not None and self_references(d.expr, d.name):
        return _recursion(d, env)
    if d.comprehension is not None:
        return map_over(d.comprehension, env, lambda scope: evaluate(d.expr, scope))
    return evaluate(d.expr, env)


def _recursion(d, env):
    """``x[t] = f(x[t - k], ...) for t in 1:T`` as a ``lax.scan`` carrying the last K values
    (never unrolled). Elements before the first are NaN, so a missing start shows up."""
    var = d.comprehension.var
    lags = sorted({recursion_lag(u, var) for u in self_references(d.expr, d.name)})
    depth = lags[-1]
    names = {k: f"{d.name}@{k}" for k in lags}
    body = _replace_lags(d.expr, d.name, var, names)
    steps = comprehension_range(d.comprehension, env)
    shape_probe = {**env, var: steps[0], **{n: jnp.nan for n in names.values()}}
    item = jax.eval_shape(lambda: jnp.asarray(evaluate(body, shape_probe), jnp.float64))
    dtype = jnp.result_type(float)

    def scan(history, expr, run):
        def step(history, t):
            scope = {**env, var: t, **{n: history[depth - k] for k, n in names.items()}}
            value = jnp.broadcast_to(jnp.asarray(evaluate(expr, scope), dtype), item.shape)
            return jnp.concatenate([history[1:], value[None]]), value

        return jax.lax.scan(step, history, run)

    history = jnp.full((depth,) + item.shape, jnp.nan, dtype)
    values = []
    for expr, run in _branch_runs(body, var, steps, env):
        history, run_values = scan(history, expr, run)
        values.append(run_values)
    return jnp.concatenate(values)


def _joint_recursion(group: tuple[ast.Define, ...], env) -> dict:
    """The members of a joint recursion (``nu[t]`` using ``err[t - 1]``, ``err[t]`` using
    ``nu[t]``) as one ``lax.scan`` over their common range: each step computes element t of
    every member in order, carrying each member's last values that a later step reads.
    Computed once per evaluation of the model: the first member stores the group's values in
    ``env`` under a key no name can have, the others read them."""
    key = f"joint recursion {group[0].name}"
    if key in env:
        return env[key]
    names = {d.name for d in group}
    # (member, lag) -> the name standing for that element inside the step
    placeholders = {}
    bodies = []
    for d in group:
        var = d.comprehension.var
        uses = {(u.base.id, element_lag(u, var)) for m in names
                for u in self_references(d.expr, m)}
        placeholders.update({use: f"{use[0]}@{use[1]}" for use in uses})
        bodies.append(_replace_elements(d.expr, names, var))
    depth = {m: max([k for (n, k) in placeholders if n == m] + [1]) for m in names}
    steps = comprehension_range(group[0].comprehension, env)
    dtype = jnp.result_type(float)

    def step(history, t):
        scope = {**env, **{f"{m}@{k}": history[m][depth[m] - k]
                           for (m, k) in placeholders if k >= 1}}
        current = {}
        for d, body in zip(group, bodies):
            scope[d.comprehension.var] = t
            value = jnp.asarray(evaluate(body, scope), dtype)
            current[d.name] = scope[f"{d.name}@0"] = value
        shifted = {m: jnp.concatenate([history[m][1:], current[m][None]]) for m in names}
        return shifted, current

    history = {m: jnp.full((depth[m],), jnp.nan, dtype) for m in names}
    _, values = jax.lax.scan(step, history, steps)
    env[key] = values
    return values


def _replace_elements(node, names: set[str], var: str):
    """The expression with each ``m[var - k]`` (m a member) replaced by the name ``m@k``."""
    def change(n):
        if isinstance(n, ast.Index) and isinstance(n.base, ast.Name) and n.base.id in names:
            return ast.Name(f"{n.base.id}@{element_lag(n, var)}", n.span)
        return None

    return ast.rewrite(node, change)


# A recursion's steps are split into at most this many scans (see _branch_runs).
MAX_BRANCH_RUNS = 4


def _branch_runs(body, var: str, steps: jax.Array, env) -> list[tuple]:
    """``(expression, steps)`` runs that together make up a recursion's steps, in order.

    When the expression is ``if c then a else b`` with ``c`` a function of the index and the
    data alone (``if t == 1 then y[1] else ...``), the steps where ``c`` holds and those where
    it does not are scanned separately with their own branch (nested conditionals are split in
    turn), so no step pays for a ``lax.cond``: inside a scan it costs about twice the gradient
    time. A condition on parameters, or one that alternates more often than
    ``MAX_BRANCH_RUNS`` allows, stays a ``lax.cond`` in one scan."""
    whole = [(body, steps)]
    if not isinstance(body, ast.Conditional) or any(
            n.id != var and n.id not in env for n in free_names(body.cond)):
        return whole
    with jax.ensure_compile_time_eval():  # a value, not a traced one, when it can be
        flags = jax.vmap(lambda t: jnp.asarray(evaluate(body.cond, {**env, var: t})) != 0)(
            steps)
    if isinstance(flags, jax.core.Tracer) or flags.ndim != 1:
        return whole  # it depends on parameters, or is not one truth value per step
    flags = np.asarray(flags)
    starts = [0, *np.flatnonzero(flags[1:] != flags[:-1]) + 1, len(flags)]
    runs = []
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        branch = body.then if flags[lo] else body.orelse
        runs += _branch_runs(branch, var, steps[lo:hi], env)
    return runs if len(runs) <= MAX_BRANCH_RUNS else whole


def _replace_lags(node, name, var, names):
    """The expression with each ``name[var - k]`` replaced by the name ``names[k]``."""
    def change(n):
        if isinstance(n, ast.Index) and isinstance(n.base, ast.Name) and n.base.id == name:
            return ast.Name(names[recursion_lag(n, var)], n.span)
        return None

    return ast.rewrite(node, change)
