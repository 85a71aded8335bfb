"""Scaling policies tried on a twin: candidates from lists and ranges (``grid``), each run in
virtual time over the cores and ranked by cost, time over the SLO, errors, p99 (``rank``),
and the ranking as text (``text``).
"""

from twin.whatif.grid import GridError, GridSpec, candidates
from twin.whatif.rank import Objective, PolicyFigures, evaluate, rank

__all__ = ["GridError", "GridSpec", "Objective", "PolicyFigures", "candidates", "evaluate",
           "rank"]
