"""Helpers for the conformance kit, shared by the conformance test files.

The kit is read at run time, never copied: from ``$PPL_CONFORMANCE_DIR`` if set, otherwise from
``../shared/conformance`` next to the repository. Without it the tests are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ppl
from ppl.summary import flat_draws

REPO = Path(__file__).resolve().parents[2]
KIT = Path(os.environ.get("PPL_CONFORMANCE_DIR") or REPO.parent / "shared" / "conformance")
MODELS = Path(__file__).resolve().parent / "models"


def load_posterior(kit: Path, name: str) -> tuple[ppl.Model, dict, dict]:
    """The project's model for ``name``, the kit's data (unchanged) and its reference.
    ``posterior:variant`` names another formulation of the same posterior, in the file
    ``models/<posterior>.<variant>.ppl``."""
    name, _, variant = name.partition(":")
    posterior = kit / "posteriors" / name
    if not (posterior / "reference.json").is_file():
        pytest.skip(f"the conformance kit at {kit} has no posterior '{name}'")
    reference = json.loads((posterior / "reference.json").read_text())
    data = json.loads((kit / "data" / f"{reference['data']}.json").read_text())
    return ppl.load(MODELS / f"{name}{'.' + variant if variant else ''}.ppl"), data, reference


def run_check(kit: Path, name: str, fit, folder: Path) -> tuple[subprocess.CompletedProcess, str]:
    """The kit's check.py on the fit's draws: its result and its one-line summary."""
    draws_file = folder / "draws.json"
    draws_file.write_text(json.dumps(flat_draws(fit)))
    posterior = name.partition(":")[0]
    result = subprocess.run([sys.executable, str(kit / "check.py"), posterior, str(draws_file)],
                            capture_output=True, text=True, timeout=300)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return result, summary


def reference_names(reference: dict) -> list[str]:
    """The quantities a reference checks (``f`` for ``f[1]``): passed as ``var_names`` so that
    a fit records them even where the recording rule would not (a deterministic of more than
    ``ppl.recording.SMALL`` values, such as gp_pois_regr's ``f``)."""
    return sorted({name.partition("[")[0] for name in reference["params"]})
