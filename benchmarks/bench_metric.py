"""Dense, diagonal or low-rank mass matrix for NUTS: measured, per model and seed, side by side.

For each case of ``bench_robustness`` (by default every conformance posterior, the mixtures and
HMMs among them) and each seed, it fits the model with the same seed and starting points once
per setting (``dense_mass=true``, ``dense_mass=false``, ``adaptation="low_rank"``, and
``auto``: the default ``dense_mass="auto"``, where the warm-up's draws choose; choose with
``--settings``, the first is the base of the ratios), and records for each whether
the fit matches the reference, whether it was flagged, and its efficiency: the smallest bulk ESS
of the sampled quantities per 1000 gradient evaluations of the sampling phase (which the load
of a shared machine does not change, unlike ESS per second).

    python -m benchmarks.bench_metric --seeds 0-4 [--models conformance] [--json out.json]

One table row per model: seeds matching per setting, bad fits left unflagged, and the median
over seeds of each setting's efficiency relative to the first (above 1: better). The
verdict lines say which setting loses fewer fits, which is what the default (``dense_mass=
"auto"``, see ``ppl/backends/nuts.py``) must follow.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_robustness import (  # noqa: E402
    KIT,
    Result,
    all_cases,
    parse_seeds,
    run_case,
    select,
)

SETTINGS = {"dense": {"dense_mass": True}, "diagonal": {"dense_mass": False},
            "low_rank": {"adaptation": "low_rank"},
            # the default: the warm-up's draws choose dense or diagonal (metric_choice.py)
            "auto": {"dense_mass": "auto"}}


def ratio_text(these: list[Result], base: list[Result]) -> str:
    """The median over seeds of this setting's efficiency / the base setting's, and its
    range."""
    ratios = [a.ess_per_1000_gradients / b.ess_per_1000_gradients
              for a, b in zip(these, base)
              if np.isfinite(a.ess_per_1000_gradients) and b.ess_per_1000_gradients > 0]
    if not ratios:
        return "-"
    return f"{np.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def table(names: list[str], results: dict[str, list[Result]]) -> str:
    """Per model: matches and unflagged bad fits of each setting, and each other setting's
    efficiency relative to the first."""
    settings = list(results)
    base, others = settings[0], settings[1:]
    lines = ["| model | " + " | ".join(f"matched {s}" for s in settings) + " | "
             + " | ".join(f"unflagged bad {s}" for s in settings) + " | "
             + " | ".join(f"ESS per gradient, {s} / {base} (median, range)" for s in others)
             + " |", "|---" * (1 + 2 * len(settings) + len(others)) + "|"]
    for name in names:
        rows = {s: [r for r in results[s] if r.model == name] for s in settings}
        if not rows[base]:
            continue
        lines.append(
            f"| {name} | " + " | ".join(f"{sum(r.matched for r in rows[s])}/{len(rows[s])}"
                                        for s in settings) + " | "
            + " | ".join(str(sum(r.bad_unflagged for r in rows[s])) for s in settings) + " | "
            + " | ".join(ratio_text(rows[s], rows[base]) for s in others) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--models", default="conformance",
                        help="comma-separated names or parts of names (bench_robustness's)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated, the first is the base ({', '.join(SETTINGS)})")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    args = parser.parse_args(argv)

    import jax

    cases = select(all_cases(), args.models)
    if any(c.uses_kit for c in cases) and not (KIT / "check.py").is_file():
        print(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR)", file=sys.stderr)
        cases = [c for c in cases if not c.uses_kit]
    import warnings
    warnings.filterwarnings("ignore", message=".*data entries not used")

    chosen = {name: SETTINGS[name] for name in args.settings.split(",")}
    results: dict[str, list[Result]] = {name: [] for name in chosen}
    for case in cases:
        for seed in parse_seeds(args.seeds):
            for name, options in chosen.items():  # side by side: same seed, same starts
                r = run_case(case, seed, args.chains, args.draws, args.warmup, options)
                results[name].append(r)
                print(f"{case.name} seed {seed} {name}: matched={r.matched} "
                      f"flagged={r.flagged} ESS/1000 grad={r.ess_per_1000_gradients:.1f} "
                      f"({r.seconds:.1f} s)", flush=True)
        jax.clear_caches()  # see bench_robustness.py

    print()
    print(f"{args.chains} chains x {args.draws} draws ({args.warmup} warmup), seeds {args.seeds}")
    print(table([c.name for c in cases], results))
    print()
    for name, rows in results.items():
        print(f"{name}: {sum(r.matched for r in rows)}/{len(rows)} fits match, "
              f"{sum(r.bad_unflagged for r in rows)} bad fits unflagged")
    if args.json:
        args.json.write_text(json.dumps(
            {"settings": vars(args) | {"json": str(args.json)},
             "results": {k: [asdict(r) for r in v] for k, v in results.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
