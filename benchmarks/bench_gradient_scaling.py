"""Time per log-density gradient of the logistic regression against N, and against the
machine's memory bandwidth (issue 16).

The logistic regression of ``logistic.ppl`` with D = 50 predictors and N = 2e4, 2e5, 2e6
observations (simulated, ``bench_core.logistic_data``). For each N it times one gradient of
- ppl's compiled model: ``jax.jit(jax.grad(compiled.log_density_with))`` with the data as an
  argument (``compiled.traced_data``), as ppl's samplers call it (``log_density_with(u, data)``
  is ``log_density(u)`` with the data traced, so an 800 MB design matrix is not baked into the
  program as a constant), inside ``ppl.jax_settings.ppl_settings()`` (float64). Its statement
  ``y ~ bernoulli_logit(alpha + X * beta)`` is GLM-shaped with a data matrix, so ppl computes
  the term's value and gradient in one pass over X in blocks of rows (``ppl.codegen.glm``);
- the same model compiled by plain autodiff ("ppl plain"): ``logistic.ppl`` with the linear
  predictor a definition (``eta = alpha + X * beta``, ``y ~ bernoulli_logit(eta)``), which the
  one-pass rule leaves as written: one product forward, one back;
- the hand-written NumPyro model's potential (``handwritten.logistic``), the data also an
  argument, in float64;
and, in the same run, the machine's memory read bandwidth: the best time of ``np.add.reduce``
(one thread) and of a jitted ``jnp.sum`` (XLA's threads) over the largest design matrix (far
larger than any cache). The ratio printed is the gradient's time over "reading X twice" at the
better of the two bandwidths, ``2 * N * D * 8 bytes / bandwidth``: a gradient that is one
matrix-vector product forward (``X @ beta``) and one back (``X.T @ r``) reads X twice; the
one-pass gradient reads it once from memory (and each block a second time from cache).

It also lists the ``dot_general`` operations of each gradient's jaxpr with their operand
shapes: the plain gradients have two matrix-vector products with the (N, D) matrix, the one-pass
gradient two per block of rows (the loop's body, and the ragged last block). The two products
alone (``X @ b`` and ``r @ X``, jitted) are timed too: the floor under a two-pass gradient.

    python benchmarks/bench_gradient_scaling.py [--sizes 20000,200000,2000000] [--dim 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))


def best_seconds(call: Callable[[], object], min_total: float = 1.0, repeats: int = 5
                 ) -> tuple[float, float]:
    """Seconds of one ``call()``, wall clock and this process's CPU time (all its threads):
    the medians over ``repeats`` of the mean over a loop of at least ``min_total / repeats``
    seconds (results waited for when they are JAX arrays). On a loaded machine the wall
    clock counts the time other processes hold the cores; the CPU time does not."""
    import jax

    jax.block_until_ready(call())  # compile, warm caches
    began = time.perf_counter()
    jax.block_until_ready(call())
    once = max(time.perf_counter() - began, 1e-6)
    inner = max(1, int(min_total / repeats / once))
    walls, cpus = [], []
    for _ in range(repeats):
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(inner):
            out = call()
        jax.block_until_ready(out)
        walls.append((time.perf_counter() - began) / inner)
        cpus.append((time.process_time() - cpu) / inner)
    return statistics.median(walls), statistics.median(cpus)


def read_bandwidth(array) -> dict:
    """Bytes per second read by a sum over ``array``: NumPy (one thread), by the wall clock
    and by CPU time, and a jitted JAX sum (XLA's threads) by the wall clock."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    nbytes = array.nbytes
    numpy_wall, numpy_cpu = best_seconds(lambda: np.add.reduce(array, axis=None), min_total=2.0)
    device = jnp.asarray(array)
    total = jax.jit(jnp.sum)
    jax_wall, _ = best_seconds(lambda: total(device), min_total=2.0)
    return {"numpy_reduce_GBps": nbytes / numpy_wall / 1e9,
            "numpy_reduce_cpu_GBps": nbytes / numpy_cpu / 1e9,
            "jax_sum_GBps": nbytes / jax_wall / 1e9}


def dot_generals(jaxpr) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The operand shapes of every ``dot_general`` in a (closed) jaxpr, sub-jaxprs included
    (jit, custom derivative rules, control flow)."""
    found = []

    def visit(jp) -> None:
        for eqn in jp.eqns:
            if eqn.primitive.name == "dot_general":
                found.append(tuple(tuple(v.aval.shape) for v in eqn.invars))
            for sub in _sub_jaxprs(eqn.params):
                visit(sub)

    visit(getattr(jaxpr, "jaxpr", jaxpr))
    return found


def _sub_jaxprs(params) -> Iterator:
    for value in params.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(item, "eqns"):  # a Jaxpr
                yield item
            elif hasattr(getattr(item, "jaxpr", None), "eqns"):  # a ClosedJaxpr
                yield item.jaxpr


def is_one_matvec_per_direction(shapes: Sequence[tuple], n: int, d: int) -> bool:
    """Whether the products are exactly two, each of the (N, D) matrix with a vector of
    length N or D (forward ``X @ beta``, backward ``X.T @ r``)."""
    def matvec(pair):
        big = [s for s in pair if s == (n, d)]
        return len(big) == 1 and sorted(pair, key=len)[0] in ((d,), (n,))

    return len(shapes) == 2 and all(matvec(pair) for pair in shapes)


def matvec_blocks(shapes: Sequence[tuple], n: int, d: int) -> list[int] | None:
    """The row counts of the blocks of X that the products read, each block once forward
    (``X_b @ beta``) and once back (``r_b @ X_b``), covering distinct block shapes; None
    when a product is anything else. ``[n]``: one product each way over the whole matrix."""
    forward, back = [], []
    for pair in shapes:
        if len(pair) == 2 and len(pair[0]) == 2 and pair[0][1] == d and pair[1] == (d,):
            forward.append(pair[0][0])
        elif len(pair) == 2 and len(pair[1]) == 2 and pair[1][1] == d \
                and pair[0] == (pair[1][0],):
            back.append(pair[1][0])
        else:
            return None
    if sorted(forward) != sorted(back) or not forward or any(b > n for b in forward):
        return None
    return sorted(forward, reverse=True)


PLAIN_STATEMENT = ("y ~ bernoulli_logit(alpha + X * beta)",
                   "eta = alpha + X * beta\ny ~ bernoulli_logit(eta)")


def gradients(n: int, d: int) -> tuple[dict, dict]:
    """For N = ``n``: (the two gradient functions with their arguments, the data's size)."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    import ppl
    from benchmarks.bench_core import logistic_data
    from benchmarks.handwritten import logistic

    data, _ = logistic_data(n=n, k=d)
    compiled = ppl.load(HERE / "logistic.ppl").compile(data)
    text = (HERE / "logistic.ppl").read_text()
    plain = ppl.model(text.replace(*PLAIN_STATEMENT)).compile(data)
    assert list(compiled.glm_plans) == ["y"] and not plain.glm_plans
    u = jnp.zeros(compiled.dimension, dtype=jnp.float64) + 0.01
    hand_data = {"N": n, "K": d, "X": jnp.asarray(data["X"]), "y": jnp.asarray(data["y"])}

    def hand_potential(u, kwargs):
        params = {"alpha": u[0], "beta": u[1:]}
        return -log_density(logistic, (), {**kwargs, "N": n, "K": d}, params)[0]

    hand_args = {"X": hand_data["X"], "y": hand_data["y"]}
    r = jnp.full(n, 0.01, dtype=jnp.float64)
    # The floor under both: the two products alone, as XLA compiles them.
    bare = jax.jit(lambda x, b, r: (x @ b, r @ x))
    return ({"ppl": (jax.jit(jax.grad(compiled.log_density_with)), (u, compiled.traced_data)),
             "ppl_plain": (jax.jit(jax.grad(plain.log_density_with)), (u, plain.traced_data)),
             "numpyro": (jax.jit(jax.grad(hand_potential)), (u, hand_args)),
             "matvecs": (bare, (hand_data["X"], u[1:], r))},
            {"X": data["X"]})


def measure(sizes: Sequence[int], d: int) -> dict:
    """Gradient times for every N, the bandwidth over the largest X, and the jaxprs' products."""
    import jax

    from ppl.jax_settings import ppl_settings

    rows = []
    bandwidth = None
    with ppl_settings():  # float64, as ppl computes; for both sides
        for n in sizes:
            functions, data = gradients(n, d)
            row = {"N": n, "D": d, "X_MB": data["X"].nbytes / 1e6}
            for label, (grad, args) in functions.items():
                shapes = dot_generals(jax.make_jaxpr(grad)(*args))
                row[f"{label}_dots"] = [list(map(list, pair)) for pair in shapes]
                row[f"{label}_one_matvec_each_way"] = is_one_matvec_per_direction(shapes, n, d)
                row[f"{label}_blocks"] = matvec_blocks(shapes, n, d)
            # interleaved, so that load changes hit both sides alike
            times: dict[str, list[tuple[float, float]]] = {label: [] for label in functions}
            for _ in range(3):
                for label, (grad, args) in functions.items():
                    times[label].append(best_seconds(lambda g=grad, a=args: g(*a),
                                                     min_total=1.0, repeats=3))
            for label in functions:
                row[f"{label}_grad_ms"] = 1e3 * statistics.median(t[0] for t in times[label])
                row[f"{label}_grad_cpu_ms"] = 1e3 * statistics.median(t[1] for t in times[label])
            if n == max(sizes):
                bandwidth = read_bandwidth(data["X"])
            rows.append(row)
            del functions, data
            jax.clear_caches()
    best = max(bandwidth["numpy_reduce_GBps"], bandwidth["jax_sum_GBps"]) * 1e9
    for row in rows:
        two_reads = 2 * row["N"] * row["D"] * 8  # bytes
        row["two_reads_ms"] = 1e3 * two_reads / best
        row["two_reads_cpu_ms"] = 1e3 * two_reads / (bandwidth["numpy_reduce_cpu_GBps"] * 1e9)
        for label in LABELS:
            row[f"{label}_over_two_reads"] = row[f"{label}_grad_ms"] / row["two_reads_ms"]
            row[f"{label}_cpu_over_two_reads"] = (row[f"{label}_grad_cpu_ms"]
                                                  / row["two_reads_cpu_ms"])
    return {"rows": rows, "bandwidth": bandwidth}


LABELS = ("ppl", "ppl_plain", "numpyro", "matvecs")


def linear_growth(rows: Sequence[dict], key: str) -> list[float]:
    """Time per observation of each size over that of the smallest: 1.0 throughout is
    exactly linear growth in N."""
    base = rows[0][key] / rows[0]["N"]
    return [row[key] / row["N"] / base for row in rows]


def table(result: dict) -> str:
    """The rows as a Markdown table: wall-clock and CPU-time figures side by side."""
    rows = result["rows"]
    growth = {label: linear_growth(rows, f"{label}_grad_cpu_ms") for label in LABELS[:3]}
    lines = ["| N | X MB | X read twice ms wall (CPU) | ppl one pass: grad ms wall (CPU) | "
             "/ read twice | ppl plain autodiff: grad ms | / read twice | NumPyro: grad ms | "
             "/ read twice | `X @ b`, `r @ X` alone / read twice | CPU time per obs / first "
             "N's, ppl (plain, NumPyro) | rows per block, ppl |",
             "|" + "---|" * 12]

    def pair(r, key):
        return f"{r[key + '_ms']:.2f} ({r[key + '_cpu_ms']:.2f})"

    def ratio(r, label):
        return f"{r[label + '_over_two_reads']:.2f} ({r[label + '_cpu_over_two_reads']:.2f})"

    for i, r in enumerate(rows):
        blocks = r["ppl_blocks"]
        lines.append(
            f"| {r['N']:,} | {r['X_MB']:.0f} | {pair(r, 'two_reads')} | "
            f"{pair(r, 'ppl_grad')} | {ratio(r, 'ppl')} | {pair(r, 'ppl_plain_grad')} | "
            f"{ratio(r, 'ppl_plain')} | {pair(r, 'numpyro_grad')} | {ratio(r, 'numpyro')} | "
            f"{ratio(r, 'matvecs')} | {growth['ppl'][i]:.2f} ({growth['ppl_plain'][i]:.2f}, "
            f"{growth['numpyro'][i]:.2f}) | "
            f"{' + '.join(map(str, blocks)) if blocks else 'not matvecs'} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000,2000000")
    parser.add_argument("--dim", type=int, default=50)
    args = parser.parse_args(argv)
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    result = measure(sizes, args.dim)
    for row in result["rows"]:
        print(json.dumps(row), flush=True)
    bw = result["bandwidth"]
    print(f"\nmemory read bandwidth over the largest X: {bw['numpy_reduce_GBps']:.1f} GB/s "
          f"wall, {bw['numpy_reduce_cpu_GBps']:.1f} GB/s per CPU-second (np.add.reduce, one "
          f"thread), {bw['jax_sum_GBps']:.1f} GB/s wall (jitted jnp.sum); 'X read twice' uses "
          "the better wall-clock figure, and in brackets the CPU-time one")
    print(table(result))
    for row in result["rows"]:
        for label in ("ppl_plain", "numpyro"):
            if not row[f"{label}_one_matvec_each_way"]:
                print(f"N = {row['N']}: {label}'s gradient is not one matrix-vector product per "
                      f"direction: dot_general operand shapes {row[f'{label}_dots']}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
