"""Mutation check: does the default test suite fail when the code is deliberately wrong?

Each mutation below is one small, plausible bug (an ignored option, a swapped argument, a
dropped Jacobian term, ...), written as an exact text substitution in one file. For each, the
project's files (``git ls-files``, untracked files included) are copied to a temporary folder,
the bug is applied there, and the default suite (``pytest``, which deselects only ``slow``) runs
on the copy with ``-x``, the test files most likely to notice the bug first (then the rest). A
mutation is *caught* when that run fails (exit code 1); the suite passing on a mutant is a hole
in the tests.

    python -m benchmarks.mutation_check [--only NAME,...] [--list]

It prints one line per mutation (caught or not, the first failing test, seconds) and the
count caught. A full pass takes one default-suite run per mutation in the worst case (each
stops at its first failure, usually within a minute or two).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    """A deliberate bug: ``old`` (which must occur exactly once in ``path``) becomes ``new``;
    ``first`` are the test files to run before the rest of the suite."""

    name: str
    path: str
    old: str
    new: str
    first: tuple[str, ...]


MUTATIONS = [
    Mutation("nuts kernel built without its options", "ppl/backends/hmc_chains.py",
             "dense_mass=config.dense,\n            target_accept_prob=config.target_accept,",
             "dense_mass=False,\n            target_accept_prob=0.8,",
             ("tests/test_backends_mcmc.py",)),
    Mutation("the sampler's programs close over the first data set", "ppl/backends/nuts.py",
             "            model.log_density_with, config,\n"
             "            jax.ShapeDtypeStruct((settings.chains, model.dimension), model.dtype),",
             "            lambda u, data: model.log_density(u), config,\n"
             "            jax.ShapeDtypeStruct((settings.chains, model.dimension), model.dtype),",
             ("tests/test_data_arguments.py",)),
    Mutation("max_tree_depth ignored", "ppl/backends/hmc_chains.py",
             "max_tree_depth=config.max_tree_depth, rng_key=key)",
             "max_tree_depth=10, rng_key=key)",
             ("tests/test_backends_mcmc.py",)),
    Mutation("chain prior states drawn independently", "ppl/codegen/marginal.py",
             "state = jax.random.categorical(k, trans[previous])",
             "state = jax.random.categorical(k, initial)",
             ("tests/test_marginal.py",)),
    # (A truncated univariate prior's own support is its bounds, so this bites the others.)
    Mutation("the prior's support overrides declared bounds", "ppl/codegen/layout.py",
             "    if node.declared_bounds is not None:\n"
             "        return bounds_constraint(node.declared_bounds, env)\n"
             "    return dist.support if dist is not None else constraints.real",
             "    if dist is not None:\n"
             "        return dist.support\n"
             "    if node.declared_bounds is not None:\n"
             "        return bounds_constraint(node.declared_bounds, env)\n"
             "    return constraints.real",
             ("tests/test_truncation.py", "tests/test_codegen.py")),
    Mutation("weibull's arguments swapped", "ppl/library/distributions.py",
             "lambda a, s: _Weibull(s, a)", "lambda a, s: _Weibull(a, s)",
             ("tests/test_reference_distributions.py", "tests/test_truncation.py")),
    Mutation("a latent's Jacobian term dropped", "ppl/codegen/model.py",
             "            if jacobian:\n                prior.append(jnp.sum(log_jac))",
             "            if False:\n                prior.append(jnp.sum(log_jac))",
             ("tests/test_codegen.py", "tests/test_posteriors.py")),
    Mutation("HMM transition matrix transposed", "ppl/codegen/marginal.py",
             "values, initial, transition = _transitions(group, model, env)\n"
             "    keys = jax.random.split(key, transition.shape[0])",
             "values, initial, transition = _transitions(group, model, env)\n"
             "    transition = jnp.swapaxes(transition, -1, -2)\n"
             "    keys = jax.random.split(key, transition.shape[0])",
             ("tests/test_marginal.py",)),
    Mutation("HMM transition transposed in the forward algorithm", "ppl/codegen/marginal.py",
             "alpha = logsumexp(alpha[:, None] + trans, axis=0) + emit",
             "alpha = logsumexp(alpha[:, None] + trans.T, axis=0) + emit",
             ("tests/test_marginal.py", "tests/conformance/test_conformance.py")),
    Mutation("truncation normaliser left out", "ppl/codegen/truncation.py",
             "density = self.base.log_prob(value) - self._mass()[0]",
             "density = self.base.log_prob(value)",
             ("tests/test_truncation.py",)),
    Mutation("truncation normaliser from the wrong tail", "ppl/codegen/truncation.py",
             "        lccdf = cdfs(low)[1]\n        return lccdf,",
             "        lccdf = cdfs(low)[0]\n        return lccdf,",
             ("tests/test_truncation.py",)),
    Mutation("guarded kinetic energy unguarded", "ppl/backends/hmc_chains.py",
             "return jnp.where(jnp.isfinite(energy), jnp.maximum(energy, 0.0), jnp.inf)",
             "return energy",
             ("tests/test_sampling_trust.py",)),
    Mutation("starts accepted with a NaN gradient", "ppl/backends/base.py",
             "and np.all(np.isfinite(np.asarray(gradient))))", ")",
             ("tests/test_sampling_trust.py", "tests/test_initialisation.py")),
]


def project_files() -> list[str]:
    """The files of the project as git sees them, untracked (not ignored) ones included."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def copy_project(target: Path) -> None:
    for name in project_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise SystemExit(f"mutation '{mutation.name}': the text to replace occurs {count} "
                         f"times in {mutation.path} (it must occur once); update the list")
    path.write_text(text.replace(mutation.old, mutation.new))


def run_suite(mutation: Mutation, tree: Path, timeout: float) -> tuple[bool, str, float]:
    """(caught, first failing test or note, seconds): the test files most likely to notice
    first, then, if they pass, the whole default suite (pytest reorders files given together
    with their folder, so the two runs are separate)."""
    first = [f for f in mutation.first if (tree / f).is_file()]
    env = os.environ | {"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    for targets in ([first] if first else []) + [["tests"]]:
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                   "-W", "ignore", *targets]
        left = timeout - (time.perf_counter() - start)
        try:
            done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            return False, f"no failure within {timeout:.0f} s", time.perf_counter() - start
        if done.returncode == 1:
            failed = re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
            reason = next((line[1:].strip() for line in done.stdout.splitlines()
                           if line.startswith("E ")), "")
            return True, f"{failed[0] if failed else 'tests failed'}: {reason[:160]}", \
                time.perf_counter() - start
        if done.returncode != 0:
            return False, f"pytest exit code {done.returncode} (not a test failure)", \
                time.perf_counter() - start
    return False, "the default suite passed", time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated parts of mutation names")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds one mutant's suite may run")
    args = parser.parse_args(argv)
    chosen = MUTATIONS
    if args.only:
        parts = [p.strip() for p in args.only.split(",")]
        chosen = [m for m in MUTATIONS if any(p in m.name for p in parts)]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path}")
        return 0
    caught = 0
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix="ppl-mutant-") as folder:
            tree = Path(folder)
            copy_project(tree)
            apply(mutation, tree)
            hit, note, seconds = run_suite(mutation, tree, args.timeout)
        caught += hit
        print(f"{'caught' if hit else 'MISSED'}: {mutation.name} ({seconds:.0f} s): {note}",
              flush=True)
    print(f"{caught} of {len(chosen)} mutations caught by the default suite")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
