"""What a load worker sends: its scenarios' requests (``WorkerRequest``) and which one goes next
(``RequestPicker``), numbered in the order they are handed to a request path.

Scenarios are picked in proportion to their weights from a shuffled sequence; a scenario of
several requests (payload rows) gives them in order or at random (``payload.order``). Both
the open loop (``driver.load.sender``) and the closed loop (``driver.load.concurrency``) take
their requests from here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import driver

USER_AGENT = f"loadwatch/{driver.__version__}"
# A request's id is its scenario times this plus its row: one cache entry per distinct request.
SCENARIO_STRIDE = 1_000_003


@dataclass
class WorkerRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    def __post_init__(self) -> None:
        # Say who we are.
        if not any(name.lower() == "user-agent" for name in self.headers):
            self.headers = {**self.headers, "User-Agent": USER_AGENT}


class RequestPicker:
    """Hands out a worker's requests one after another (``next``), seeded: the same worker
    index and seed pick the same requests in the same order."""

    def __init__(self, scenarios: Sequence[Sequence[WorkerRequest]], weights: Sequence[float],
                 payload_order: str, seed: int) -> None:
        self.scenarios = scenarios
        self.picked = 0  # requests handed out so far: the last one's sequence number
        self._sequence_rows = payload_order == "sequence"
        self._random = random.Random(seed)
        self._choices = self._scenario_sequence(weights)
        self._row_position = [0] * len(scenarios)
        self._only = ((0, scenarios[0][0])
                      if len(self._choices) == 1 and len(scenarios[self._choices[0]]) == 1
                      and self._choices[0] == 0 else None)

    def _scenario_sequence(self, weights: Sequence[float]) -> list[int]:
        """A shuffled sequence of scenario indexes in proportion to their weights."""
        if len(weights) == 1:
            return [0]
        total = sum(weights)
        sequence = [i for i, w in enumerate(weights) for _ in range(round(1000 * w / total))]
        self._random.shuffle(sequence)
        return sequence or [0]

    def next(self) -> tuple[int, int, WorkerRequest]:
        """The next request: its sequence number (from 1), its id, and what to send."""
        n = self.picked
        self.picked = seq = n + 1
        only = self._only
        if only is not None:  # one scenario of one request: the common case
            return seq, only[0], only[1]
        scenario = self._choices[n % len(self._choices)]
        requests = self.scenarios[scenario]
        if len(requests) == 1:
            return seq, scenario * SCENARIO_STRIDE, requests[0]
        if self._sequence_rows:
            row = self._row_position[scenario]
            self._row_position[scenario] = (row + 1) % len(requests)
        else:
            row = self._random.randrange(len(requests))
        return seq, scenario * SCENARIO_STRIDE + row, requests[row]
