"""Every conformance model, DSL against hand-written NumPyro, measured side by side in one run.

For each model file tests/conformance/models/*.ppl it runs the DSL model and the same model
hand-written in NumPyro (``handwritten_conformance.py``) on the conformance kit's data, and
prints one table:
- NUTS min bulk-ESS per second of sampling, DSL / hand (higher is better): the same chains,
  draws, warmup, seeds and NUTS settings on both sides, compilation excluded (each side is timed
  on its second run), the minimum taken over the parameters of the kit's ``reference.json``;
- time from source to first draw in a fresh process with a cold compilation cache, DSL vs hand
  in seconds and their ratio (lower is better); ``--repeat`` adds a second fresh process that
  may reuse the cache the first one left.

    python benchmarks/bench_conformance.py [--models arK,earnings,...] [--chains 4]
        [--draws 1000] [--warmup 1000] [--seeds 1] [--no-first-draw] [--repeat]

A second formulation of a posterior, ``<posterior>.<variant>.ppl``, is its own row
``<posterior>:<variant>``, compared with the same hand-written model. ``--models`` takes these
names or parts of them (``kidiq`` selects both kidiq posteriors, ``garch11`` the GARCH one,
``hmm_example`` both HMM formulations, ``discrete`` every ``:discrete`` variant).

The kit is read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``. Absolute times
drift on shared machines; compare only the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_core import (  # noqa: E402
    KIT,
    first_draw_times,
    gradient_times,
    hand_kwargs,
    nuts_ess_comparison,
    potentials,
)

MODELS_DIR = HERE.parent / "tests" / "conformance" / "models"


def cases() -> list[str]:
    """One name per model file, sorted: the posterior name for ``<posterior>.ppl`` and
    ``<posterior>:<variant>`` for another formulation, ``<posterior>.<variant>.ppl`` (the naming
    of tests/conformance)."""
    found = sorted(path.stem.partition(".")[::2] for path in MODELS_DIR.glob("*.ppl"))
    return [f"{posterior}:{variant}" if variant else posterior for posterior, variant in found]


@dataclass(frozen=True)
class Case:
    """One conformance model file: the DSL source, the kit's data and reference parameters."""

    name: str
    posterior: str
    model_path: Path
    data_path: Path
    data: dict
    reference_names: tuple[str, ...]  # Stan-style scalar names, e.g. ``beta[1]``


def load_case(name: str, kit: Path = KIT) -> Case:
    """The DSL model, data and reference parameter names of ``name`` (a posterior, or
    ``posterior:variant``), the kit's files read at run time. Raises FileNotFoundError when the
    kit lacks the posterior."""
    posterior, _, variant = name.partition(":")
    reference_path = kit / "posteriors" / posterior / "reference.json"
    if not reference_path.is_file():
        raise FileNotFoundError(f"{reference_path} not found: set PPL_CONFORMANCE_DIR to the "
                                "conformance kit")
    reference = json.loads(reference_path.read_text())
    data_path = kit / "data" / f"{reference['data']}.json"
    model_path = MODELS_DIR / f"{posterior}{'.' + variant if variant else ''}.ppl"
    return Case(name, posterior, model_path, data_path, json.loads(data_path.read_text()),
                tuple(reference["params"]))


def select(spec: str | None) -> list[str]:
    """Model names matching a comma-separated selection (see the module docstring)."""
    names = cases()
    if not spec:
        return names

    def parts(name):
        posterior, _, variant = name.partition(":")
        return {name, posterior, *posterior.split("-", 1)} | ({variant} if variant else set())

    chosen = []
    for item in spec.split(","):
        item = item.strip()
        matches = [n for n in names if item in parts(n)]
        if not matches:
            raise SystemExit(f"no conformance model matches '{item}'; choose from: "
                             + ", ".join(names))
        chosen += [m for m in matches if m not in chosen]
    return chosen


def measure(name: str, chains: int, draws: int, warmup: int, first_draw: bool,
            repeat: bool, gradients: bool = True, ess: bool = True, seeds: int = 1) -> dict:
    """One table row: ESS/s of both sides and (``first_draw``) the times to first draw. A
    failure of one measurement is recorded in the row rather than ending the run."""
    import ppl
    from benchmarks.handwritten_conformance import MODELS
    from ppl.backends.nuts import dense_metric

    case = load_case(name)
    hand_model = MODELS[case.posterior]  # the same posterior for every formulation
    row: dict = {"model": name}
    compiled = ppl.load(case.model_path).compile(case.data)
    try:
        if ess:
            row.update(nuts_ess_comparison(compiled, hand_model, hand_kwargs(hand_model, case.data),
                                           chains, draws, warmup, names=case.reference_names,
                                           same_start=True, seeds=range(1, seeds + 1)))
            if seeds > 1:
                ratios = row["ess_per_s_ratios"]
                row["ess_ratio_range"] = f"{min(ratios):.2f}-{max(ratios):.2f}"
    except Exception as exc:  # one model's failure must not stop the table
        row["ess_error"] = f"{type(exc).__name__}: {exc}"
    if gradients:  # separates the DSL's cost per gradient from the sampler's run-to-run luck
        row.update(gradient_times(*potentials(compiled, hand_model, case.data), repeats=5,
                                  inner=50))
    if first_draw:
        try:
            row.update(first_draw_times(case.model_path, hand_model, case.data_path,
                                        dense_metric("auto", compiled.dimension), repeat=repeat))
        except Exception as exc:
            row["first_draw_error"] = f"{type(exc).__name__}: {exc}"
    return row


def table(rows: list[dict], first_draw: bool, repeat: bool) -> str:
    """The results as a Markdown table (``-`` where a measurement failed)."""
    columns = [("model", "model", None), ("min bulk ESS/s DSL", "ess_per_s_dsl", ".1f"),
               ("hand", "ess_per_s_hand", ".1f"), ("ratio", "ess_per_s_ratio", ".2f"),
               ("gradient time ratio", "grad_ratio", ".2f")]
    if any("ess_ratio_range" in r for r in rows):
        columns.insert(4, ("ratio range over seeds", "ess_ratio_range", None))
    if first_draw:
        columns += [("first draw DSL s", "dsl_first_s", ".1f"), ("hand s", "hand_first_s", ".1f"),
                    ("ratio", "first_ratio", ".2f")]
    if first_draw and repeat:
        columns += [("repeat DSL s", "dsl_repeat_s", ".1f"), ("hand s", "hand_repeat_s", ".1f"),
                    ("ratio", "repeat_ratio", ".2f")]
    return markdown_table(rows, columns)


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str | None]]) -> str:
    """``rows`` as a Markdown table: ``columns`` are (title, key, format), ``-`` where a row
    has no value for the key (a measurement that failed)."""
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for r in rows:
        cells = [format(r[key], fmt or "") if key in r else "-" for _, key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated selection (default: all)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--no-first-draw", action="store_true",
                        help="skip the fresh-process times to first draw")
    parser.add_argument("--repeat", action="store_true",
                        help="also time a second fresh process (warm compilation cache)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="time NUTS with seeds 1..N; the table shows the run with the "
                             "median ESS/s ratio and the range")
    parser.add_argument("--gradients-only", action="store_true",
                        help="only the time of one log-density gradient, DSL / hand-written")
    args = parser.parse_args()
    if not (KIT / "posteriors").is_dir():
        raise SystemExit(f"conformance kit not found at {KIT}: set PPL_CONFORMANCE_DIR")
    import jax

    # Double precision for both sides: ppl turns it on inside its own calls only, and the
    # hand-written NumPyro models (and the gradients taken of ppl's densities) run here.
    jax.config.update("jax_enable_x64", True)

    # The kit's data files hold entries some models do not use; the DSL warns about each.
    warnings.filterwarnings("ignore", message=".*data entries not used")

    rows = []
    for name in select(args.models):
        row = measure(name, args.chains, args.draws, args.warmup,
                      not (args.no_first_draw or args.gradients_only), args.repeat,
                      ess=not args.gradients_only, seeds=args.seeds)
        rows.append(row)
        print(json.dumps(row), flush=True)
        # JAX's caches keep every compiled program (and its model) alive; without this, LLVM ran
        # out of memory maps after about ten models with --seeds 3.
        jax.clear_caches()
    print()
    print(f"{args.chains} chains x {args.draws} draws ({args.warmup} warmup); ESS/s ratio: "
          "higher is better for the DSL; first-draw ratio: lower is better")
    print(table(rows, not args.no_first_draw, args.repeat))
    for r in rows:
        for key in ("ess_error", "first_draw_error"):
            if key in r:
                last = [line for line in r[key].splitlines() if line.strip()][-1]
                print(f"{r['model']}: {key}: {last}", file=sys.stderr)


if __name__ == "__main__":
    main()
