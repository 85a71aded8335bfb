"""The capacity finder: the search over steps, its judges (``search``, streaming ``llm``),
the wait for the target to recover between runs (``recovery``), the live run of each step
(``run``) and the answer's wording. May import ``driver.session``, ``driver.profile``,
``driver.schedule`` and ``metrics``.
"""

from driver.capacity.llm import CONCURRENCY, StreamingJudge, answer_line
from driver.capacity.recovery import EXIT_UNRECOVERED, RecoveryGate, RecoveryRule
from driver.capacity.run import CapacityRun, StepPlan, judge_for, objectives_from, search_profile
from driver.capacity.search import (
    CLEAR_FAILURE_NOTE,
    CONTAMINATED_NOTE,
    CapacitySearch,
    PlainJudge,
    StepJudge,
    verdict_label,
)
from driver.capacity.text import describe_spread, per_copy, scaling_block

__all__ = [
    "CLEAR_FAILURE_NOTE",
    "CONCURRENCY",
    "CONTAMINATED_NOTE",
    "EXIT_UNRECOVERED",
    "CapacityRun",
    "CapacitySearch",
    "PlainJudge",
    "RecoveryGate",
    "RecoveryRule",
    "StepJudge",
    "StepPlan",
    "StreamingJudge",
    "answer_line",
    "describe_spread",
    "judge_for",
    "objectives_from",
    "per_copy",
    "scaling_block",
    "search_profile",
    "verdict_label",
]
