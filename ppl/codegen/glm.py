"""GLM-shaped likelihoods with one pass over the design matrix for value and gradient.

An observed statement ``y ~ bernoulli_logit(alpha + X * beta)`` (or ``poisson_log``, or
``normal(alpha + X * beta, sigma)``, or the ``*_glm`` forms ``bernoulli_logit_glm(X, alpha,
beta)``, ...) whose design matrix ``X`` is data is a sum over the rows of a log-likelihood of
the linear predictor ``eta = alpha + X beta``. Plain reverse-mode autodiff computes it with one
matrix-vector product forward (``X @ beta``) and one back (``r @ X``, r the derivative of the
log-likelihood in eta): X is read from memory twice, and on a CPU XLA's ``r @ X`` (a product
that contracts the rows) runs at a fraction of the memory bandwidth. Here the value and its
derivatives come from one pass over X in blocks of rows that stay in cache: per block,
``eta_b = alpha_b + X_b @ beta``, the log-likelihood and ``r_b``, and ``g += r_b @ X_b`` while
X_b is still in cache (:func:`glm_log_likelihood`). It is a ``jax.custom_jvp`` whose rule
computes the value and every derivative in that pass, so ``jax.grad`` of a log density reads X
once (the backward pass only scales ``g``), the log density alone is the plain one product,
forward-mode and second derivatives (``jax.hessian``) work, and ``jax.vmap`` (chains) batches
it. The rule fires only when X is a data name (:func:`glm_plan`); otherwise the statement is
compiled as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from ppl.codegen.evaluate import evaluate
from ppl.frontend import ast
from ppl.ir.graph import Graph, Node
from ppl.library.distributions import DISTRIBUTIONS

# Families of the fused form: the family of its per-row log-likelihood, and which argument
# holds the linear predictor (the others: sigma for the normal).
_LINKED = {"bernoulli_logit": "bernoulli", "poisson_log": "poisson", "normal": "normal"}
_GLM_FORMS = {"bernoulli_logit_glm": "bernoulli", "poisson_log_glm": "poisson",
              "normal_id_glm": "normal"}
FAMILIES = ("bernoulli", "poisson", "normal")

# Blocks of about this many bytes of X fit the 1 MiB-per-core L2 cache and the shared L3 of
# the CPUs measured (benchmarks/bench_gradient_scaling.py): per block, the second product
# reads X_b from cache. A design matrix of at most SMALL_BYTES is one block: it stays in the
# L3 cache between the two products anyway, and a loop would only add its overhead.
BLOCK_BYTES = 2 * 1024 * 1024
SMALL_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class GlmPlan:
    """A GLM-shaped observed statement: its family, the data name of its design matrix, and
    the expressions of the intercept (None: 0), the coefficients and (normal) the scale."""

    family: str
    x: str
    alpha: ast.Expr | None
    beta: ast.Expr
    sigma: ast.Expr | None = None


def glm_plan(node: Node, graph: Graph) -> GlmPlan | None:
    """The fused form of the observed statement ``node``, or None where it does not apply:
    not one of the families, a statement over a range, or a design matrix that is not a data
    (or transformed data) matrix by name, such as a parameter or an expression."""
    sample = node.sample
    if node.kind != "observed" or sample is None or sample.comprehension is not None \
            or sample.truncation is not None:
        return None
    func = sample.dist.func
    if func not in _LINKED and func not in _GLM_FORMS:
        return None
    args = _ordered(sample.dist, DISTRIBUTIONS[func].params)
    if args is None:
        return None
    data_matrices = {n.name for n in graph.nodes
                     if n.kind in ("data", "transformed_data") and len(n.type.shape) == 2}
    if func in _GLM_FORMS:
        x = args[0]
        if not (isinstance(x, ast.Name) and x.id in data_matrices):
            return None
        return GlmPlan(_GLM_FORMS[func], x.id, args[1], args[2],
                       args[3] if len(args) > 3 else None)
    linear = _linear_predictor(args[0], data_matrices)
    if linear is None:
        return None
    return GlmPlan(_LINKED[func], linear[0], linear[1], linear[2],
                   args[1] if len(args) > 1 else None)


def _ordered(call: ast.Call, params: tuple[str, ...]) -> list[ast.Expr] | None:
    by_name = {a.name: a.value for a in call.args if a.name}
    positional = [a.value for a in call.args if a.name is None]
    out = [positional[i] if i < len(positional) else by_name.get(p)
           for i, p in enumerate(params)]
    return None if any(a is None for a in out) else out


def _linear_predictor(e: ast.Expr, data_matrices: set[str]
                      ) -> tuple[str, ast.Expr | None, ast.Expr] | None:
    """``X * beta``, ``alpha + X * beta`` or ``X * beta + alpha`` with X a data matrix:
    (X's name, alpha or None, beta)."""
    def product(p):
        if isinstance(p, ast.Binary) and p.op == "*" and isinstance(p.left, ast.Name) \
                and p.left.id in data_matrices:
            return p.left.id, p.right
        return None

    found = product(e)
    if found is not None:
        return found[0], None, found[1]
    if isinstance(e, ast.Binary) and e.op == "+":
        for prod, other in ((e.right, e.left), (e.left, e.right)):
            found = product(prod)
            if found is not None:
                return found[0], other, found[1]
    return None


def fused_arguments(plan: GlmPlan, values) -> tuple | None:
    """(x, alpha, beta, sigma) as :func:`glm_log_likelihood` takes them, from the evaluated
    expressions ``values`` (x, alpha or None, beta, sigma or None); None when their shapes are
    not a GLM's (beta not a vector of X's columns, alpha or sigma neither a scalar nor one per
    row, an integer matrix): the statement is then compiled as written."""
    x, alpha, beta, sigma = values
    x, beta = jnp.asarray(x), jnp.asarray(beta)
    if x.ndim != 2 or not jnp.issubdtype(x.dtype, jnp.floating) or beta.shape != x.shape[1:]:
        return None
    real = jnp.result_type(x, beta, 1.0)
    alpha = jnp.zeros((), real) if alpha is None else jnp.asarray(alpha, real)
    sigma = None if sigma is None else jnp.asarray(sigma, real)
    if any(v is not None and v.shape not in ((), x.shape[:1]) for v in (alpha, sigma)):
        return None
    if (plan.family == "normal") != (sigma is not None):
        return None
    return x, alpha, jnp.asarray(beta, real), sigma


# -- the per-row log-likelihoods ------------------------------------------------------------

def _rows(family: str, eta, y, sigma):
    """Per row: the log-likelihood, its derivative in eta, and (normal) in sigma. The
    formulas are NumPyro's (BernoulliLogits, Poisson, Normal), so values agree to rounding."""
    y = jnp.asarray(y, eta.dtype)
    if family == "bernoulli":
        value = -(jnp.clip(eta, 0) + jnp.log1p(jnp.exp(-jnp.abs(eta))) - eta * y)
        return value, y - jax.nn.sigmoid(eta), None
    if family == "poisson":
        rate = jnp.exp(eta)
        return jsp.xlogy(y, rate) - rate - jsp.gammaln(y + 1), y - rate, None
    z = (y - eta) / sigma
    value = -0.5 * z**2 - jnp.log(jnp.sqrt(2 * jnp.pi) * sigma)
    return value, z / sigma, (z**2 - 1) / sigma


def _rows_dy(family: str, eta, y, d_eta):
    """Per row: the log-likelihood's derivative in a real-valued y (for a gradient in y)."""
    if family == "bernoulli":
        return eta
    if family == "poisson":
        return eta - jsp.digamma(jnp.asarray(y, eta.dtype) + 1)
    return -d_eta


# -- the one-pass kernel ---------------------------------------------------------------------

def block_rows_for(x) -> int:
    """Rows per block for the design matrix ``x``: all of them up to SMALL_BYTES, otherwise
    about BLOCK_BYTES of rows."""
    n, d = x.shape
    row = max(1, d) * x.dtype.itemsize
    return n if n * row <= SMALL_BYTES else max(1, min(n, BLOCK_BYTES // row))


def one_pass(family: str, x, y, alpha, beta, sigma, block_rows: int):
    """The log-likelihood's value and its derivatives from one pass over ``x`` in blocks of
    ``block_rows`` rows (the last block ragged): (value, gradient in beta, per-row eta,
    per-row derivative in eta, per-row derivative in sigma or None)."""
    n = x.shape[0]
    full = n // block_rows if block_rows < n else 0

    def block(start, size):
        def rows_of(v):  # a per-row argument's block; a scalar stays one
            return v if v is None or v.ndim == 0 else lax.dynamic_slice_in_dim(v, start, size)

        x_b = lax.dynamic_slice_in_dim(x, start, size)
        eta = rows_of(alpha) + x_b @ beta
        value, d_eta, d_sigma = _rows(family, eta, rows_of(y), rows_of(sigma))
        return jnp.sum(value), d_eta @ x_b, eta, d_eta, d_sigma

    if full == 0:
        return block(0, n)

    def step(carry, i):
        total, grad = carry
        value, g, eta, d_eta, d_sigma = block(i * block_rows, block_rows)
        return (total + value, grad + g), (eta, d_eta, d_sigma)

    zero = jnp.zeros((), beta.dtype)
    (total, grad), per_row = lax.scan(step, (zero, jnp.zeros_like(beta)),
                                      jnp.arange(full))
    per_row = [None if p is None else p.reshape(-1) for p in per_row]
    if full * block_rows < n:  # the ragged last block
        value, g, *tail = block(full * block_rows, n - full * block_rows)
        total, grad = total + value, grad + g
        per_row = [None if p is None else jnp.concatenate([p, t])
                   for p, t in zip(per_row, tail, strict=True)]
    return (total, grad, *per_row)


@partial(jax.custom_jvp, nondiff_argnums=(0, 6))
def _fused(family, x, y, alpha, beta, sigma, block_rows):
    eta = alpha + x @ beta  # the value alone: the plain one product
    return jnp.sum(_rows(family, eta, y, sigma)[0])


@partial(_fused.defjvp, symbolic_zeros=True)
def _fused_jvp(family, block_rows, primals, tangents):
    x, y, alpha, beta, sigma = primals
    dx, dy, dalpha, dbeta, dsigma = tangents
    value, grad, eta, d_eta, d_sigma = one_pass(family, x, y, alpha, beta, sigma, block_rows)
    # The tangent is linear in the tangents with coefficients from the pass: reverse mode
    # keeps them and only scales them, so a gradient reads X once.
    out = jnp.zeros((), value.dtype)
    if not isinstance(dbeta, SymbolicZero):
        out = out + jnp.sum(grad * dbeta)  # a product, not a dot: ct * grad in reverse
    if not isinstance(dalpha, SymbolicZero):
        out = out + jnp.sum(d_eta * dalpha)
    if d_sigma is not None and not isinstance(dsigma, SymbolicZero):
        out = out + jnp.sum(d_sigma * dsigma)
    if not isinstance(dx, SymbolicZero):  # a gradient in the data themselves
        out = out + d_eta @ (dx @ beta)
    if not isinstance(dy, SymbolicZero) and jnp.issubdtype(jnp.result_type(y), jnp.floating):
        out = out + jnp.sum(_rows_dy(family, eta, y, d_eta) * dy)
    return value, out


def glm_log_likelihood(family: str, x, y, alpha, beta, sigma=None,
                       block_rows: int | None = None) -> jax.Array:
    """``sum_n log p(y[n] | eta[n])`` with ``eta = alpha + x @ beta``, for ``family`` in
    :data:`FAMILIES` (``bernoulli``: logit link; ``poisson``: log link; ``normal``: identity
    link with scale ``sigma``). ``alpha`` and ``sigma`` are scalars or one per row of ``x``.
    Its derivatives (any order, forward or reverse, batched by ``jax.vmap``) come from one
    pass over ``x`` in blocks of ``block_rows`` rows (default :func:`block_rows_for`)."""
    x, y, alpha, beta = (jnp.asarray(v) for v in (x, y, alpha, beta))
    sigma = None if sigma is None else jnp.asarray(sigma)
    rows = block_rows_for(x) if block_rows is None else int(block_rows)
    return _fused(family, x, y, alpha, beta, sigma, rows)


def fused_term(plan: GlmPlan, env, y) -> jax.Array | None:
    """The summed log-likelihood of the statement ``plan`` with the values in ``env`` and the
    observed ``y``, through :func:`glm_log_likelihood`; None where the arguments' shapes are
    not a GLM's (the statement is then computed as written)."""
    values = [env[plan.x]] + [None if e is None else evaluate(e, env)
                              for e in (plan.alpha, plan.beta, plan.sigma)]
    args = fused_arguments(plan, values)
    if args is None or jnp.shape(y) != args[0].shape[:1]:
        return None
    x, alpha, beta, sigma = args
    return glm_log_likelihood(plan.family, x, y, alpha, beta, sigma)
