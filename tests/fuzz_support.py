"""Seeded fuzzers for tests/test_fuzz.py: text mutations of models, mutations of data, and a sweep
of argument kinds through every library function and distribution.

Each fuzzer returns the cases it ran and the *escapes*: outcomes that are neither success nor a
:class:`ppl.PPLError` (for the checker fuzzer, a PPLError must also be located as
``fuzz.ppl:LINE:COL:``). An escape keeps the text and data that reproduce it.
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ppl
from ppl.library.cdfs import cdf_function_names, cdf_spec
from ppl.library.distributions import DISTRIBUTIONS
from ppl.library.functions import ARITY, FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE_MODELS = ROOT / "tests" / "conformance" / "models"
KIT = ROOT.parent / "shared" / "conformance"
NAME = "fuzz.ppl"
LOCATED = re.compile(rf"^{re.escape(NAME)}:\d+:\d+: ")


@dataclass
class Escape:
    fuzzer: str
    kind: str  # the exception's type name
    message: str
    text: str
    data: object = None

    def report(self) -> str:
        data = "" if self.data is None else f"\n--- data\n{_dump(self.data)}"
        return (f"[{self.fuzzer}] {self.kind}: {self.message}\n--- model\n{self.text}{data}")


@dataclass
class Run:
    cases: int = 0
    escapes: list[Escape] = field(default_factory=list)


def _dump(data) -> str:
    try:
        return json.dumps(data, default=repr)[:2000]
    except (TypeError, ValueError):
        return repr(data)[:2000]


# -- the corpus ----------------------------------------------------------------------------

# Models in the language's newer syntax, so that mutations reach it: continuation lines,
# transpose, multi-index statements, definitions in pieces and arrays of vectors/matrices.
SYNTAX_MODELS = {
    "continued_transpose": (
        "data N: int\ndata x: vector[N]\ndata A: matrix[N, N]\ndata y: vector[N]\n"
        "theta: vector[N] ~ normal(0, 1)\n"
        "energy = 0.5 * theta' * A * theta\n"
        "    + x' * theta\n"
        "scores = (theta' * A)' +\n    x\n"
        "outer = theta * x'\n"
        "y ~ normal(scores, exp(energy / 100))\n",
        {"N": 3, "x": [0.5, -1.0, 2.0], "A": [[2, 0.5, 0], [0.5, 1, 0], [0, 0, 1]],
         "y": [0.1, 0.2, 0.3]}),
    "grid": (
        "data N: int\ndata K: int\ndata y: matrix[N, K]\n"
        "a: vector[N] ~ normal(0, 1)\nb: vector[K] ~ normal(0, 1)\ns ~ half_normal(1)\n"
        "eta[n, k] = a[n] - b[k] for n in 1:N, k in 1:K\n"
        "y[n, k] ~ normal(eta[n, k], s)\n    for n in 1:N, k in 1:K\n"
        "gap = [a[n] * b[k] for n in 1:N, k in 1:K]\n",
        {"N": 3, "K": 2, "y": [[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]]}),
    "pieces": (
        "data T: int\ndata K: int\ndata y: vector[T]\nrho ~ uniform(-1, 1)\n"
        "m0 ~ normal(0, 1)\nm[1] = m0\nm[t] = rho * m[t - 1] + y[t - 1] for t in 2:T\n"
        "h[t] = y[t] for t in 1:K\nh[t] = 2 * y[t] for t in K + 1:T\n"
        "powers = [rho^k for k in 0:K]\ny ~ normal(m + h / 10, 1)\n",
        {"T": 4, "K": 2, "y": [0.5, 0.1, -0.3, 0.8]}),
    "arrays": (
        "data N: int\ndata K: int\ndata y: vector[K][N]\ndata S: matrix[K, K][N]\n"
        "mu: vector[K] ~ normal(0, 1)\nz: vector[K][N] ~ multi_normal(mu, S[1])\n"
        "w: simplex[K][N] ~ dirichlet(rep_vector(2, K))\n"
        "y[n] ~ multi_normal(z[n] + w[n], S[n]) for n in 1:N\n",
        {"N": 2, "K": 2, "y": [[0.1, 0.2], [0.3, 0.4]],
         "S": [[[1, 0.2], [0.2, 1]], [[2, 0], [0, 2]]]}),
}


def corpus() -> list[tuple[str, str, dict | None]]:
    """(name, model text, data or None) for the examples and the conformance models; the
    conformance data comes from the kit next to the repository, when it is there."""
    items = []
    for path in sorted((ROOT / "examples").glob("*.ppl")):
        data_file = path.with_suffix(".json")
        data = json.loads(data_file.read_text()) if data_file.is_file() else None
        items.append((path.stem, path.read_text(), data))
    for path in sorted(CONFORMANCE_MODELS.glob("*.ppl")) if CONFORMANCE_MODELS.is_dir() else []:
        posterior = path.name.split(".")[0]
        reference = KIT / "posteriors" / posterior / "reference.json"
        data = None
        if reference.is_file():
            data_file = KIT / "data" / f"{json.loads(reference.read_text())['data']}.json"
            if data_file.is_file():
                data = json.loads(data_file.read_text())
        items.append((path.stem, path.read_text(), data))
    items += [(name, text, data) for name, (text, data) in SYNTAX_MODELS.items()]
    return items


# -- text mutations ------------------------------------------------------------------------

_TOKEN = re.compile(r"\s+|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*(?:[eE][-+]?\d+)?|"
                    r"\.\*|\./|[<>=!]=|&&|\|\||\+=|.", re.S)
_KEYWORDS = ["data", "param", "for", "in", "target", "+=", "int", "real", "vector", "matrix",
             "for k in 1:K,", "[1]", "[N]", "'",
             "simplex", "ordered", "cov_matrix", "cholesky_factor_corr", "generated", "function",
             "if", "then", "else", "dim", "positive_ordered", "unit_vector", "corr_matrix"]
_SYMBOLS = ["(", ")", "[", "]", ",", ":", "~", "=", "+", "-", "*", "/", "^", ".*", "./", "%",
            "<", ">", "<=", ">=", "==", "!=", "&&", "||", "!", "\n", " ", "\\\n", "'", ";", "{",
            "|", "@", "\t", "\u00e9", "\x00", "\u200b"]
_NUMBERS = ["0", "-1", "1e308", "1e999", "1e-400", "99999999999999999999999",
            "9" * 40, "2147483648", "nan", "inf", "0.0", "-0", "3", "1.5", ".5", "1e3"]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def mutate(text: str, rng: np.random.Generator) -> str:
    """``text`` with one to three random edits of its tokens, lines or characters."""
    vocabulary = sorted(set(FUNCTIONS) | set(DISTRIBUTIONS)) + _KEYWORDS
    for _ in range(int(rng.integers(1, 4))):
        toks = tokens(text)
        if not toks:
            toks = [""]
        i = int(rng.integers(len(toks)))
        op = int(rng.integers(11))
        if op == 0:  # delete a token
            del toks[i]
        elif op == 1:  # duplicate a token
            toks.insert(i, toks[i])
        elif op == 2 and len(toks) > 1:  # swap two tokens
            j = int(rng.integers(len(toks)))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 3:
            toks.insert(i, " " + str(rng.choice(vocabulary)) + " ")
        elif op == 4:
            toks.insert(i, str(rng.choice(_SYMBOLS)))
        elif op == 5:
            toks.insert(i, " " + str(rng.choice(_KEYWORDS)) + " ")
        elif op == 6:  # change a number
            numbers = [k for k, t in enumerate(toks) if t[:1].isdigit()]
            if numbers:
                toks[int(rng.choice(numbers))] = str(rng.choice(_NUMBERS))
        elif op == 7:  # truncate
            return "".join(toks[:i])
        elif op == 8:  # a token copied from elsewhere in the model
            toks.insert(i, toks[int(rng.integers(len(toks)))])
        else:  # delete or duplicate a line
            lines = "".join(toks).split("\n")
            k = int(rng.integers(len(lines)))
            if op == 9:
                del lines[k]
            else:
                lines.insert(k, lines[k])
            toks = ["\n".join(lines)]
        text = "".join(toks)
    return text


# -- running a case ------------------------------------------------------------------------

def outcome(action, *, located: bool) -> tuple[str, str] | None:
    """None when ``action()`` succeeds or raises an acceptable PPLError, else (kind,
    message) of the escape."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except ppl.PPLError as exc:
        message = str(exc)
        if located and not LOCATED.match(message):
            return "UnlocatedPPLError", message.splitlines()[0] if message else ""
        return None
    except Exception as exc:  # noqa: BLE001 -- any other exception is what is looked for
        lines = str(exc).strip().splitlines()
        return type(exc).__name__, lines[0][:300] if lines else ""
    return None


def evaluate(compiled) -> None:
    """The log density, its gradient and every value at a point, traced and run."""
    key = jax.random.PRNGKey(0)
    u = compiled.initial_point(key) if compiled.dimension else jnp.zeros((0,))
    jax.value_and_grad(compiled.log_density)(u)
    compiled.posterior_env(u, key)


def _compile_and_evaluate(text: str, data) -> None:
    model = ppl.model(text, NAME)
    evaluate(model.compile(data))


# -- fuzzer 1: parser and checker ----------------------------------------------------------

def fuzz_check(cases: int, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    models = corpus()
    run = Run()
    for _ in range(cases):
        _, text, _ = models[int(rng.integers(len(models)))]
        mutated = mutate(text, rng)
        run.cases += 1
        bad = outcome(lambda m=mutated: ppl.model(m, NAME).warnings, located=True)
        if bad:
            run.escapes.append(Escape("check", *bad, mutated))
    return run


# -- fuzzer 2: compile mutated models ------------------------------------------------------

def fuzz_compile(cases: int, seed: int, max_tries: int = 40) -> Run:
    """Mutations that still check, compiled with the original model's data and evaluated."""
    rng = np.random.default_rng(seed)
    models = [m for m in corpus() if m[2] is not None and _small(m[2])]
    run = Run()
    for _ in range(cases):
        _, text, data = models[int(rng.integers(len(models)))]
        for _ in range(max_tries):
            mutated = mutate(text, rng)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ppl.model(mutated, NAME)
                break
            except Exception:  # noqa: BLE001 -- the checker fuzzer judges these
                continue
        else:
            continue
        run.cases += 1
        bad = outcome(lambda m=mutated, d=data: _compile_and_evaluate(m, d), located=False)
        if bad:
            run.escapes.append(Escape("compile", *bad, mutated, data))
    return run


def _small(data: dict) -> bool:
    """Data small enough to compile quickly (a few thousand numbers at most)."""
    return len(json.dumps(data)) < 20_000


# -- fuzzer 3: data mutations --------------------------------------------------------------

_BAD_VALUES = [math.nan, math.inf, -math.inf, -1, -10**6, 0, 10**30, 2**63, -2**70, True, False,
               "abc", "", None, [], {}, [[1, 2], [3]], [[[[[1]]]]], [1, "a"], [math.nan],
               [True, False], 1.5, -0.0, [10**30], {"a": 1}, [None]]


def mutate_data(data: dict, rng: np.random.Generator) -> dict:
    data = copy.deepcopy(data)
    keys = sorted(data)
    for _ in range(int(rng.integers(1, 3))):
        op = int(rng.integers(6))
        key = str(rng.choice(keys)) if keys else "x"
        if op == 0 and keys:
            data.pop(key, None)
        elif op == 1:
            data["extra_" + key] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
        elif op == 2 and isinstance(data.get(key), list) and data[key]:
            # one element of a list changed
            value = list(data[key])
            value[int(rng.integers(len(value)))] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
            data[key] = value
        elif op == 3 and isinstance(data.get(key), list):
            value = list(data[key])
            data[key] = value[: int(rng.integers(len(value) + 1))] + (
                value[:1] if rng.integers(2) else [])
        elif op == 4 and isinstance(data.get(key), (int, float)) and not isinstance(
                data.get(key), bool) and not (isinstance(data[key], float)
                                               and not math.isfinite(data[key])):
            # (an earlier mutation may have made it inf or nan, or an int beyond any float)
            data[key] = data[key] + int(rng.choice([-1, 1, -data[key] - 1, 1000]))
        else:
            data[key] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
    return data


def fuzz_data(cases: int, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    models = [m for m in corpus() if m[2] is not None and _small(m[2])]
    run = Run()
    for _ in range(cases):
        _, text, data = models[int(rng.integers(len(models)))]
        mutated = mutate_data(data, rng)
        run.cases += 1
        bad = outcome(lambda d=mutated, t=text: _compile_and_evaluate(t, d), located=False)
        if bad:
            run.escapes.append(Escape("data", *bad, text, mutated))
    return run


# -- fuzzer 4: argument kinds through the library ------------------------------------------

SPD = [[2.0, 0.5, 0.1], [0.5, 1.5, 0.2], [0.1, 0.2, 1.0]]
# name -> (declaration, data value or None for a parameter)
KINDS = {
    "i": ("data i: int", 2),
    "r": ("data r: real", 0.5),
    "neg": ("data neg: real", -0.5),
    "ia": ("data ia: int[3]", [1, 2, 3]),
    "ra": ("data ra: real[3]", [0.1, 0.2, 0.7]),
    "ra2": ("data ra2: real[2, 3]", [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]),
    "v": ("data v: vector[3]", [0.2, 0.3, 0.5]),
    "v2": ("data v2: vector[2]", [0.4, 0.6]),
    "ms": ("data ms: matrix[3, 3]", SPD),
    "mn": ("data mn: matrix[3, 2]", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    "mw": ("data mw: matrix[2, 3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    "p": ("param p: real", None),
    "pp": ("param pp: real > 0", None),
    "pv": ("param pv: vector[3]", None),
    "s": ("param s: simplex[3]", None),
    "pm": ("param pm: cov_matrix[3]", None),
    "pl": ("param pl: cholesky_factor_corr[3]", None),
    "2": (None, None),
    "0.5": (None, None),
}
_VARIATES = {"zr": ("data zr: real", 0.5), "zi": ("data zi: int", 1),
             "zv": ("data zv: vector[3]", [0.2, 0.3, 0.5]), "zia": ("data zia: int[3]", [1, 2, 1]),
             "zm": ("data zm: matrix[3, 3]", SPD)}


def _sweep_model(statement: str, names: list[str]) -> tuple[str, dict]:
    lines, data = [], {}
    for name in names:
        declaration, value = KINDS.get(name) or _VARIATES.get(name) or (None, None)
        if declaration is None or declaration in lines:
            continue
        lines.append(declaration)
        if value is not None:
            data[name] = value
    return "\n".join(lines + [statement]) + "\n", data


def sweep_cases() -> list[tuple[str, dict]]:
    """Every function and distribution with every combination of argument kinds (ternary
    calls: the first argument varies only over scalars, to keep the sweep finite)."""
    kinds = list(KINDS)
    scalars = ["i", "r", "p", "2", "0.5"]
    cases = []

    def combinations(n):
        if n == 0:
            return [[]]
        firsts = scalars if n == 3 else kinds
        return [[a, *rest] for a in firsts for rest in combinations(n - 1)]

    for name, spec in sorted(FUNCTIONS.items()):
        low, high = ARITY[spec.rule]
        for n in range(low, high + 1):
            for args in combinations(n):
                cases.append(_sweep_model(f"y = {name}({', '.join(args)})", args))
    for name, spec in sorted(DISTRIBUTIONS.items()):
        n = len(spec.params)
        for variate in _VARIATES:
            for args in combinations(n):
                statement = f"{variate} ~ {name}({', '.join(args)})"
                cases.append(_sweep_model(statement, [*args, variate]))
    return cases + cdf_sweep_cases()


# Arguments of the CDF functions and ends of T[L, U] in the sweep: scalars (data, parameter,
# positive parameter, number) and a vector, so that the cases stay in the tens of thousands.
_CDF_ARGUMENTS = ["r", "p", "pp", "v"]
_ENDS = [("neg", ""), ("", "2"), ("p", ""), ("0.5", "2"), ("2", "0.5"), ("v", ""), ("", "")]


def cdf_sweep_cases() -> list[tuple[str, dict]]:
    """Every ``_lcdf`` / ``_lccdf`` / ``_cdf`` function with every kind of value and some kinds
    of arguments, and every distribution truncated by ``T[L, U]`` with several kinds of ends
    (empty, reversed, vector, parameter) on every kind of variate."""
    cases = []

    def combinations(n):
        return [[]] if n == 0 else [[a, *rest] for a in _CDF_ARGUMENTS
                                     for rest in combinations(n - 1)]

    for name in cdf_function_names():
        n = len(DISTRIBUTIONS[cdf_spec(name).spec.name].params)
        for value in KINDS:
            for args in combinations(n):
                cases.append(_sweep_model(f"y = {name}({', '.join([value, *args])})",
                                          [value, *args]))
    for name, spec in sorted(DISTRIBUTIONS.items()):
        args = ["pp" if i == 0 else "0.5" for i in range(len(spec.params))]
        for variate in [*_VARIATES, "x"]:  # x: a parameter
            for low, high in _ENDS:
                statement = f"{variate} ~ {name}({', '.join(args)}) T[{low}, {high}]"
                cases.append(_sweep_model(statement, [*args, variate, low, high]))
    return cases


def fuzz_sweep(cases: int | None, seed: int) -> Run:
    """``cases`` sweep cases drawn at random (None: all of them); each that checks is compiled
    and evaluated. Models the checker rejects count as cases too: that is an outcome."""
    every = sweep_cases()
    rng = np.random.default_rng(seed)
    chosen = every if cases is None else [every[int(k)] for k in
                                          rng.choice(len(every), cases, replace=False)]
    run = Run()
    for text, data in chosen:
        run.cases += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ppl.model(text, NAME)
        except ppl.PPLError:
            continue
        except Exception as exc:  # noqa: BLE001
            run.escapes.append(Escape("sweep", type(exc).__name__, str(exc)[:300], text, data))
            continue
        bad = outcome(lambda m=model, d=data: evaluate(m.compile(d)), located=False)
        if bad:
            run.escapes.append(Escape("sweep", *bad, text, data))
    return run
