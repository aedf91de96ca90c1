"""``target_accept="auto"``: 0.8, raised to 0.9 where the warm-up's sampler diverges often.

A divergent transition is where the step size is too large for the posterior's curvature
somewhere (the neck of a funnel, a boundary). Stan's advice is to raise ``adapt_delta`` by
hand; here the warm-up measures it. NumPyro adapts the metric in windows and the step size
afresh in each; the choice reads the divergences of the windows before the last, leaving out
the first (its step sizes are the wildest; :func:`judged_windows`), so that the last window
estimates the metric the sampling keeps from chains that already run at the raised target.
Where more than :data:`DIVERGENCE_RATE` of those iterations diverged, the rest of the warm-up
adapts the step size to :data:`RAISED_TARGET_ACCEPT`, and sampling keeps it. NumPyro's kernel
reads its target when its init kernel is traced, so the raise runs a second compiled program
(its first run in a cold cache compiles it: about a second).

Measured, 4 chains x 1000 + 1000, the conformance kit's anchor posteriors (seeds 0-3): the
judged windows (iterations 150-449) diverged in at most 29 of 1200 iterations (2.4 %) on
eight_schools_noncentered, kidscore_interaction, low_dim_gauss_mix, garch11, arK and
hmm_example, which keep 0.8. gp_pois_regr is raised on all of seeds 0-10: its divergent draws
fell from 5-89 to 2-19 (of 4000), and its smallest bulk ESS went from 128-703 (median 502) to
327-687 (median 585), for about 1.25 times the leapfrog steps. A user's ``target_accept`` is
kept as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TARGET_ACCEPT = 0.8
RAISED_TARGET_ACCEPT = 0.9
# More than this fraction of the judged windows' iterations divergent: raise the target.
DIVERGENCE_RATE = 0.035


@dataclass(frozen=True)
class TargetChoice:
    """The target acceptance rate sampling kept, and the divergences it was chosen from:
    ``divergent`` of ``iterations`` (chains x draws) of the warm-up's last metric window."""

    target_accept: float
    divergent: int
    iterations: int

    @property
    def raised(self) -> bool:
        return self.target_accept > DEFAULT_TARGET_ACCEPT

    @property
    def note(self) -> str:
        verb = f"raised from {DEFAULT_TARGET_ACCEPT}" if self.raised else "kept"
        return (f"{self.target_accept} ({verb}: {self.divergent} of {self.iterations} iterations "
                f"of the warm-up's metric windows before the last diverged; the limit is "
                f"{DIVERGENCE_RATE:.1%})")


def judged_windows(windows: int) -> tuple[int, ...]:
    """Which of the warm-up's ``windows`` slow windows the choice reads, counted from the end
    (1: the last): the penultimate and the one before it, leaving out the first (its step
    sizes are the wildest), so that the last window adapts the metric at the chosen target;
    the last alone where there are fewer than 3."""
    if windows >= 3:
        return tuple(k for k in (3, 2) if k < windows)
    return (1,) if windows else ()


def choose_target(divergent: int, iterations: int) -> TargetChoice:
    """The target acceptance rate after a last metric window with ``divergent`` of
    ``iterations`` iterations divergent."""
    raise_it = iterations > 0 and divergent > DIVERGENCE_RATE * iterations
    return TargetChoice(RAISED_TARGET_ACCEPT if raise_it else DEFAULT_TARGET_ACCEPT,
                        int(divergent), int(iterations))


def starting_target(options: Mapping[str, Any]) -> float:
    """The ``target_accept`` backend option as a number (``"auto"``: the default)."""
    value = options.get("target_accept", "auto")
    return DEFAULT_TARGET_ACCEPT if value in ("auto", None) else float(value)
