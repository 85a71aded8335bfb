"""How many generated cases each property test ran, for docs/reliability.md's figures.

Set LOADWATCH_CASE_COUNTS=FILE to have the counts written there (JSON) at the end of the run.
"""

from __future__ import annotations

import atexit
import json
import os
from collections import Counter

CASES: Counter[str] = Counter()


def counted(what: str) -> None:
    CASES[what] += 1


def _write() -> None:
    target = os.environ.get("LOADWATCH_CASE_COUNTS")
    if target and CASES:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(CASES.items())), handle, indent=1)


atexit.register(_write)
