"""The Stan corpus (../shared/stan-corpus, or $PPL_STAN_CORPUS): 74 posteriordb posteriors
with Stan's log density at six fixed points each. A posterior is expressed when
``tests/corpus/models/<posterior>.ppl`` exists; it is density-equal to Stan when its log
density on the constrained values, taken as differences to the first point, matches Stan's
``lp`` (``log_prob(adjust_transform=False)``) within 1e-6 + 1e-8 |difference| (the corpus
README's tolerance; constants cancel in the differences).

A Stan program that solves an ODE is the exception: Stan's stored densities carry the error of
its RK45 solve at the program's tolerance (``integrate_ode_rk45``: 1e-6), far beyond the
README's tolerance at extreme parameter values (a random initial point of sir is off by about 80
in 1.9e5). Such a model says ``# stan ode tolerance: 1e-6`` and is compared within the README's
tolerance plus the error an adaptive solver makes at that tolerance, estimated at each point as
the difference between the model solved there at Stan's tolerance and as written (tight); the
explicit solver is used for the estimate, the stiff one where the explicit one fails."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
NOT_EXPRESSED = HERE / "not_expressed.txt"
TABLE = HERE.parent.parent / "docs" / "corpus.md"
TOL_ABS, TOL_REL = 1e-6, 1e-8


def corpus_dir() -> Path | None:
    """The corpus folder, or None when it is absent (the tests then skip)."""
    folder = Path(os.environ.get("PPL_STAN_CORPUS", HERE.parent.parent.parent / "shared"
                                 / "stan-corpus"))
    return folder if (folder / "index.json").exists() else None


def posteriors(folder: Path) -> list[str]:
    return [entry["posterior"] for entry in json.loads((folder / "index.json").read_text())]


def points(folder: Path, posterior: str) -> dict:
    return json.loads((folder / "posteriors" / posterior / "points.json").read_text())


def data(folder: Path, posterior: str) -> dict:
    name = points(folder, posterior)["data"]
    return json.loads((folder / "data" / f"{name}.json").read_text())


def declared_data(folder: Path, posterior: str, model) -> dict:
    """The posterior's data entries that ``model`` declares. Stan ignores the others;
    posteriordb's files hold some, even the true values of parameters (normal_2's theta),
    which ppl would refuse as data for a sampled quantity."""
    declared = set(model.checked.declared_data())
    return {k: v for k, v in data(folder, posterior).items() if k in declared}


def model_file(posterior: str) -> Path:
    return MODELS / f"{posterior}.ppl"


def needs(posterior: str) -> str:
    """What the model needed, from its ``# needs: ...`` line (empty when none)."""
    for line in model_file(posterior).read_text().splitlines():
        if line.startswith("# needs:"):
            return line.removeprefix("# needs:").strip()
    return ""


def not_expressed() -> dict[str, str]:
    """Posteriors not written yet, with the reason (``posterior: reason`` lines)."""
    if not NOT_EXPRESSED.exists():
        return {}
    out = {}
    for line in NOT_EXPRESSED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(":")
            out[name.strip()] = reason.strip()
    return out


@dataclass(frozen=True)
class Check:
    posterior: str
    passed: bool
    max_error: float
    log_densities: tuple[float, ...]


def _densities(model, given: dict, stored: list) -> np.ndarray:
    """The model's constrained log density at each stored point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = model.compile(given)
    density = jax.jit(compiled.constrained_log_density)
    return np.array([float(density({k: jnp.asarray(v, compiled.dtype)
                                    for k, v in p["values"].items()})) for p in stored])


def stan_ode_tolerance(posterior: str) -> float | None:
    """The ODE tolerance of the Stan program, from the model's ``# stan ode tolerance:`` line."""
    for line in model_file(posterior).read_text().splitlines():
        if line.startswith("# stan ode tolerance:"):
            return float(line.removeprefix("# stan ode tolerance:"))
    return None


def ode_error_estimate(posterior: str, given: dict, stored: list, tight: np.ndarray,
                       tolerance: float) -> np.ndarray:
    """|log density solved at Stan's ODE tolerance - as written| at each point: the size of the
    error Stan's stored densities may carry."""
    import ppl

    text = model_file(posterior).read_text()
    text = re.sub(r"rtol = [0-9.eE+-]+", f"rtol = {tolerance}", text)
    text = re.sub(r"atol = [0-9.eE+-]+", f"atol = {tolerance}", text)
    text = re.sub(r"max_steps = [0-9]+", "max_steps = 1000000", text)
    explicit = _densities(ppl.model(text), given, stored)
    stiff = _densities(ppl.model(text.replace("ode_solve(", "ode_solve_stiff(")), given, stored)
    loose = np.where(np.isfinite(explicit), explicit, stiff)
    return np.abs(loose - tight)


def check(folder: Path, posterior: str) -> Check:
    """Evaluate the model's constrained log density at the six points and compare the
    differences to the first with Stan's."""
    import ppl

    stored = points(folder, posterior)["points"]
    model = ppl.load(model_file(posterior))
    given = declared_data(folder, posterior, model)
    mine = _densities(model, given, stored)
    stan = np.array([p["lp"] for p in stored])
    ours, theirs = mine - mine[0], stan - stan[0]
    error = np.abs(ours - theirs)
    allowed = TOL_ABS + TOL_REL * np.abs(theirs)
    tolerance = stan_ode_tolerance(posterior)
    if tolerance is not None:
        solver_error = ode_error_estimate(posterior, given, stored, mine, tolerance)
        allowed = allowed + solver_error + solver_error[0]
    passed = bool(np.all(np.isfinite(mine)) and np.all(error <= allowed))
    return Check(posterior, passed, float(np.max(error)) if np.all(np.isfinite(error))
                 else float("inf"), tuple(mine))


def table(folder: Path, checks: dict[str, Check]) -> str:
    """docs/corpus.md: every corpus posterior, whether it is expressed, its density check and
    what it needed (or why it is not expressed)."""
    missing = not_expressed()
    names = posteriors(folder)
    expressed = [n for n in names if model_file(n).exists()]
    passed = sum(checks[n].passed for n in expressed if n in checks)
    lines = [
        "<!-- Generated by `python tests/corpus/table.py` from tests/corpus/: do not edit by "
        "hand. The tests fail when this file is out of date. -->",
        "# The Stan corpus",
        "",
        f"{len(expressed)} of {len(names)} posteriordb posteriors of the corpus are written in "
        f"the language (`tests/corpus/models/`); {passed} of them are density-equal to Stan "
        "(the differences of the log density between six fixed points match Stan's within "
        "1e-6 + 1e-8 |difference|; `tests/corpus/test_corpus.py` checks them in CI). For the "
        "programs that solve an ODE, Stan's stored densities carry its RK45 error at the "
        "program's tolerance (1e-6), which is added to the allowance, estimated at each point "
        "by solving at that tolerance (see `tests/corpus/corpus_support.py`).",
        "",
        "| posterior | expressed | density check | what it needed, or why not |",
        "|---|---|---|---|",
    ]
    for name in names:
        if name in expressed:
            c = checks.get(name)
            # No error size here: its last digits differ between machines.
            status = "not run" if c is None else ("pass" if c.passed else "FAIL")
            if c is not None and stan_ode_tolerance(name) is not None:
                status += " (within Stan's ODE error)"
            lines.append(f"| {name} | yes | {status} | {needs(name) or '-'} |")
        else:
            lines.append(f"| {name} | no | - | {missing.get(name, 'not translated yet')} |")
    return "\n".join(lines) + "\n"
