"""The ODE solvers of the language: ``ode_solve`` (non-stiff) and ``ode_solve_stiff``, both
diffrax solvers with an adaptive step size controller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OdeSolver:
    """A language name for one of diffrax's solvers, with what the documentation says of it."""

    name: str
    diffrax_solver: str  # the name of the diffrax class
    description: str


ODE_SOLVERS: dict[str, OdeSolver] = {s.name: s for s in (
    OdeSolver("ode_solve", "Dopri5",
              "explicit Dormand-Prince 5(4), for non-stiff systems (Stan's ode_rk45)"),
    # diffrax has no BDF method; Kvaerno5 is an L-stable implicit (ESDIRK) method of order 5
    # with an embedded error estimate, the stiff solver diffrax recommends.
    OdeSolver("ode_solve_stiff", "Kvaerno5",
              "implicit Kvaerno 5(4) (L-stable), for stiff systems (where Stan uses ode_bdf)"),
)}

ODE_OPTIONS = ("rtol", "atol", "max_steps")
