"""Where the time to the first draw goes: import, parse/check, binding and code generation,
starting points, the sampler's set-up, its first chunk, the results; and in each phase, the
seconds JAX spent tracing and compiling (XLA, or reading a program from the persistent cache).
The first draw is the end of ppl's first sampling chunk; the results and diagnostics come
after it (and are timed too).

Each run is a fresh interpreter that samples 4 chains (ppl's default) with one warm-up
iteration and one draw, so that what it measures is the start-up, not the sampling. It runs
with a cold compilation cache, then again with the cache the first run left (a second
``ppl run`` of the same model); beside it, the same model hand-written in NumPyro (NUTS, 4
chains, ``numpyro.set_host_device_count(4)`` as NumPyro's documentation advises, parallel),
cold and warm too, so the ratios are side by side in one run.

    python benchmarks/bench_first_draw.py [--model eight_schools|diamonds|logistic] [--reps 3]

Eight schools and diamonds read the conformance kit (``PPL_CONFORMANCE_DIR`` or
``../shared/conformance``); the logistic data are simulated. Compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

# The child: times each phase by wrapping the functions that begin and end it, and collects
# JAX's compile log (jax.log_compiles) to split each phase's time into tracing, compiling and
# the rest.
_PPL_CHILD = r"""
import time
START = time.perf_counter()
import json, logging, sys
model_path, data_path = sys.argv[1:3]
import ppl
import jax
marks = [("import", time.perf_counter())]
events = []  # (time, kind, seconds)

class Compiles(logging.Handler):
    def emit(self, record):
        text = record.getMessage()
        now = time.perf_counter()
        if text.startswith("Finished tracing") and " in " in text:
            events.append((now, "trace", float(text.rsplit(" in ", 1)[1].split()[0])))
        elif text.startswith("Finished XLA compilation") and " in " in text:
            events.append((now, "compile", float(text.rsplit(" in ", 1)[1].split()[0])))

for name in ("jax._src.dispatch", "jax._src.interpreters.pxla", "jax._src.pjit"):
    logger = logging.getLogger(name)
    logger.addHandler(Compiles())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

def marked(owner, attribute, phase, first_only=False):
    original = getattr(owner, attribute)
    seen = []
    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        if not (first_only and seen):
            marks.append((phase, time.perf_counter()))
            seen.append(1)
        return out
    setattr(owner, attribute, wrapper)

model_module = sys.modules["ppl.model"]
from ppl.backends import chain_layout, nuts
marked(model_module.Model, "_compile", "bind and generate code")
marked(nuts, "noted_starting_state", "starting points")
marked(chain_layout.ChainLayout, "init", "sampler set-up")
marked(chain_layout.ChainLayout, "advance", "warm-up chunk", first_only=True)
marked(nuts, "run_chains", "first draw")

with jax.log_compiles(True):
    model = ppl.load(model_path)
    marks.append(("parse and check", time.perf_counter()))
    data = json.load(open(data_path))
    fit = model.sample(data, chains=4, draws=1, warmup=1, seed=0, progress=False)
marks.append(("after: results, diagnostics", time.perf_counter()))
phases, previous = [], START
for name, at in marks:
    trace = sum(s for t, k, s in events if previous < t <= at and k == "trace")
    compile_ = sum(s for t, k, s in events if previous < t <= at and k == "compile")
    phases.append({"phase": name, "seconds": at - previous, "trace": trace,
                   "compile": compile_})
    previous = at
first_draw = next(at for name, at in marks if name == "first draw") - START
print(json.dumps({"phases": phases, "total": first_draw, "fit": previous - START,
                  "chain_method": fit.attrs.get("chain_method")}))
"""

_HAND_CHILD = r"""
import time
START = time.perf_counter()
import json, os, sys
data_path, hand_model, repo = sys.argv[1:4]
import numpyro
numpyro.set_host_device_count(4)
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", os.environ["PPL_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
sys.path.insert(0, repo)
import importlib
module, function = hand_model.split(":")
model = getattr(importlib.import_module(module), function)
from benchmarks.bench_core import hand_kwargs
from numpyro.infer import MCMC, NUTS
data = json.load(open(data_path))
mcmc = MCMC(NUTS(model, dense_mass=True), num_warmup=1, num_samples=1, num_chains=4,
            progress_bar=False)
mcmc.run(jax.random.PRNGKey(0), **hand_kwargs(model, data))
next(iter(mcmc.get_samples().values())).block_until_ready()
print(json.dumps({"total": time.perf_counter() - START}))
"""


def run_child(script: str, args: list[str], cache: Path) -> dict:
    """A fresh interpreter running ``script`` with ``args`` and the compilation cache at
    ``cache``; its last line of output, read as JSON."""
    environment = dict(os.environ, PPL_CACHE_DIR=str(cache))
    for name in ("XLA_FLAGS", "PPL_HOST_DEVICES"):  # a user's fresh process
        environment.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script, *args], env=environment,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_files(name: str, folder: Path) -> tuple[Path, Path, object]:
    """The .ppl file, a JSON data file and the hand-written NumPyro model of ``name``."""
    from benchmarks.bench_core import model_data
    from benchmarks.handwritten import MODELS

    data_path = folder / f"{name}.json"
    data = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in model_data(name).items()}
    data_path.write_text(json.dumps(data))
    return HERE / f"{name}.ppl", data_path, MODELS[name]


def measure(name: str, reps: int) -> dict:
    """Cold and warm runs of ppl and NumPyro, interleaved, ``reps`` times each."""
    runs: dict[str, list] = {"ppl cold": [], "ppl warm": [], "numpyro cold": [],
                             "numpyro warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path, data_path, hand = model_files(name, folder)
        spec = f"{hand.__module__}:{hand.__name__}"
        for rep in range(reps):
            for side in ("ppl", "numpyro"):
                cache = folder / f"cache-{side}-{rep}"
                for state in ("cold", "warm"):
                    if side == "ppl":
                        out = run_child(_PPL_CHILD, [str(model_path), str(data_path)], cache)
                    else:
                        out = run_child(_HAND_CHILD, [str(data_path), spec, str(HERE.parent)],
                                        cache)
                    runs[f"{side} {state}"].append(out)
                    print(f"  rep {rep + 1} {side} {state}: {out['total']:.2f} s", flush=True)
    return runs


def median_phases(outs: list[dict]) -> list[dict]:
    """Per phase, the median over reps of seconds, tracing and compiling."""
    names = [p["phase"] for p in outs[0]["phases"]]
    return [{"phase": n, **{key: statistics.median(o["phases"][i][key] for o in outs)
                            for key in ("seconds", "trace", "compile")}}
            for i, n in enumerate(names)]


def report(name: str, runs: dict) -> None:
    totals = {k: statistics.median(o["total"] for o in v) for k, v in runs.items()}
    fits = {k: statistics.median(o["fit"] for o in runs[k]) for k in ("ppl cold", "ppl warm")}
    print(f"\n{name}: seconds from interpreter start to the first draw (4 chains; median of "
          f"{len(runs['ppl cold'])}), load {os.getloadavg()[0]:.1f}")
    print("| phase | cold: s (trace, compile) | warm: s (trace, compile) |\n|---|---|---|")
    cold, warm = median_phases(runs["ppl cold"]), median_phases(runs["ppl warm"])
    for c, w in zip(cold, warm, strict=True):
        print(f"| {c['phase']} | {c['seconds']:.2f} ({c['trace']:.2f}, {c['compile']:.2f}) | "
              f"{w['seconds']:.2f} ({w['trace']:.2f}, {w['compile']:.2f}) |")
    print(f"| **ppl: first draw** | {totals['ppl cold']:.2f} | {totals['ppl warm']:.2f} |")
    print(f"| ppl: fit returned | {fits['ppl cold']:.2f} | {fits['ppl warm']:.2f} |")
    print(f"| hand-written NumPyro: mcmc.run returned | {totals['numpyro cold']:.2f} | "
          f"{totals['numpyro warm']:.2f} |")
    print(f"| first draw, ppl / NumPyro | {totals['ppl cold'] / totals['numpyro cold']:.2f} | "
          f"{totals['ppl warm'] / totals['numpyro warm']:.2f} |")
    print("chain method:", runs["ppl cold"][0].get("chain_method"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="eight_schools")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    for name in args.model.split(","):
        report(name, measure(name, args.reps))


if __name__ == "__main__":
    main()
