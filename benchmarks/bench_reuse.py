"""Data as arguments of the compiled programs: what a second fit with new data costs.

One model (eight schools by default, or ``--model FILE --data FILE``), two data sets of the same
shapes (the second shifts every real array by one of its standard deviations). Printed side by
side, in one run:

- in one process: the first fit; the same ``Model`` fitted to the new data (its compiled
  programs are reused); a new ``Model`` of the same text fitted to the new data with the
  persistent compilation cache off (everything traced and compiled again). The ratio
  recompile / reuse is what the design buys a simulation study;
- in fresh processes sharing one compilation cache (``ppl run`` as a user runs it): a cold
  run on the data, then a run on the new data, then one more on the first data. With the data
  as arguments the compiled programs on disk are the same for both data sets, so the new data
  starts as fast as a repeat.

    python benchmarks/bench_reuse.py [--model M.ppl --data D.json] [--chains 4]

Compare ratios within one run only (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def shifted(data: dict) -> dict:
    """The data with every real array moved by its standard deviation (same shapes)."""
    import numpy as np

    out = {}
    for name, value in data.items():
        arr = np.asarray(value)
        out[name] = (arr + (arr.std() or 1.0)).tolist() if arr.dtype.kind == "f" and arr.ndim \
            else value
    return out


def in_process(model_path: Path, data: dict, new: dict, chains: int) -> dict:
    import ppl

    run = dict(chains=chains, draws=1000, warmup=1000, seed=0)
    seconds = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ppl.load(model_path)
        for label, target, data_set in (("first fit", model, data),
                                        ("new data, same Model (reuse)", model, new),
                                        ("new data, new Model (recompile)",
                                         ppl.load(model_path), new)):
            began = time.perf_counter()
            target.sample(data_set, **run)
            seconds[label] = time.perf_counter() - began
    return seconds


def in_fresh_processes(model_path: Path, data: dict, new: dict, chains: int) -> dict:
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, data_set in (("data", data), ("new", new)):
            files[label] = Path(tmp) / f"{label}.json"
            files[label].write_text(json.dumps(data_set))
        env = {**os.environ, "PPL_CACHE_DIR": str(Path(tmp) / "cache")}
        for label, which in (("cold cache, data", "data"), ("warm cache, new data", "new"),
                             ("warm cache, same data again", "data")):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ppl.cli", "run", str(model_path), "--data",
                            str(files[which]), "--chains", str(chains)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[label] = time.perf_counter() - began
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "examples" / "eight_schools.ppl")
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "eight_schools.json")
    parser.add_argument("--chains", type=int, default=4)
    args = parser.parse_args(argv)
    data = json.loads(args.data.read_text())
    new = shifted(data)
    os.environ["PPL_CACHE_DIR"] = ""  # the in-process part: no persistent cache at all
    inside = in_process(args.model, data, new, args.chains)
    print(f"{args.model.name}, {args.chains} chains x 1000 + 1000, wall seconds")
    for label, value in inside.items():
        print(f"  {label:<40} {value:7.2f}")
    reuse = inside["new data, same Model (reuse)"]
    print(f"  recompile / reuse: {inside['new data, new Model (recompile)'] / reuse:.1f}x")
    fresh = in_fresh_processes(args.model, data, new, args.chains)
    print("ppl run in fresh processes sharing one compilation cache, wall seconds")
    for label, value in fresh.items():
        print(f"  {label:<40} {value:7.2f}")
    print(f"  new data / same data again: "
          f"{fresh['warm cache, new data'] / fresh['warm cache, same data again']:.2f} "
          f"(1 = new data start as fast as a repeat)")


if __name__ == "__main__":
    main()
