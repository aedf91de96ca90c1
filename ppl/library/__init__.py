"""The standard library of the language: distributions and functions, each in one registry."""

from ppl.library.distributions import DISTRIBUTIONS, DistributionSpec
from ppl.library.functions import FUNCTIONS, FunctionSpec

__all__ = ["DISTRIBUTIONS", "DistributionSpec", "FUNCTIONS", "FunctionSpec"]
