"""The twin's fit: recordings cut into steps of constant load (``steps``) and one instance's
parameters fitted from them, each with its source, and checked against them (``fit``).
"""

from twin.fit.fit import FitError, fit, latency_summary
from twin.fit.steps import Step, steps_of

__all__ = ["FitError", "Step", "fit", "latency_summary", "steps_of"]
