"""A GPU instance serving a language model with continuous batching, as a pure event model.

The engine is vLLM's and TGI's scheduler reduced to what shapes the figures a client sees:

- a queue in front (at most ``queue_bound`` waiting, else the request is refused);
- admission while fewer than ``max_num_seqs`` sequences run and the KV cache holds the new
  sequence's input plus its ``max_tokens`` (reserved up front, as TGI does; vLLM allocates as it
  goes and preempts instead, which the reservation approximates without modelling preemption);
- iterations back to back: newly admitted sequences get a *prefill* iteration (all of them at
  once, running sequences wait, vLLM's default without chunked prefill) that costs
  ``prefill_base_ms + prefill_per_token_ms x input tokens`` and yields each one's first token;
  otherwise a *decode* iteration gives every running sequence one token and costs
  ``decode_base_ms + decode_per_seq_ms x batch + decode_per_context_token_us x context``.

So time to first token grows with the queue and with other prompts' prefills, inter-token
latency grows with the batch, and past the KV cache's room requests queue: the instance
saturates. Nothing here reads a clock or sleeps: ``submit``, ``advance`` and ``cancel`` take
``now`` and ``next_event_at`` says when something happens next, so tests drive it with any
times and the server drives it with ``time.perf_counter()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# Outcomes of a sequence that did not finish.
QUEUE_FULL = "queue_full"
TIMED_OUT = "timed_out"  # still waiting for admission after the container time limit
CANCELLED = "cancelled"

VOCABULARY = (
    "the", "load", "test", "shows", "how", "an", "endpoint", "scales", "when", "traffic",
    "rises", "and", "tokens", "stream", "back", "to", "each", "client", "in", "time",
    "queue", "batch", "model", "instance", "latency", "first", "token", "per", "second", "of",
)


@dataclass(frozen=True, slots=True)
class LlmProfile:
    """How one simulated GPU instance serves a model; see docs/sandbox.md for the sources."""

    model: str = "llama-2-7b-fp16"
    max_num_seqs: int = 256
    kv_cache_tokens: int = 16384
    max_model_len: int = 4096
    prefill_base_ms: float = 26.0
    prefill_per_token_ms: float = 0.27
    decode_base_ms: float = 26.0
    decode_per_seq_ms: float = 0.1
    decode_per_context_token_us: float = 0.87
    default_max_tokens: int = 128

    def prefill_seconds(self, input_tokens: int) -> float:
        return (self.prefill_base_ms + self.prefill_per_token_ms * input_tokens) / 1000.0

    def decode_seconds(self, batch: int, context_tokens: int) -> float:
        return (self.decode_base_ms + self.decode_per_seq_ms * batch
                + self.decode_per_context_token_us * context_tokens / 1000.0) / 1000.0


class Sequence:
    """One request inside the engine: its sizes, and the simulated time of each token."""

    __slots__ = ("admitted_at", "arrived", "error", "finished_at", "input_tokens",
                 "max_tokens", "notify", "number", "received", "token_times")

    def __init__(self, input_tokens: int, max_tokens: int, arrived: float, number: int = 0,
                 notify: Callable[[], None] | None = None) -> None:
        self.input_tokens = max(1, input_tokens)
        self.max_tokens = max(1, max_tokens)
        self.arrived = arrived
        self.received = arrived  # when its HTTP request reached the sandbox (set by the server)
        self.number = number
        self.notify = notify  # called after the engine gave this sequence tokens or an end
        self.admitted_at: float | None = None
        self.finished_at: float | None = None
        self.error: str | None = None
        self.token_times: list[float] = []

    @property
    def done(self) -> bool:
        return self.finished_at is not None or self.error is not None

    @property
    def reserved(self) -> int:
        return self.input_tokens + self.max_tokens

    @property
    def context(self) -> int:
        return self.input_tokens + len(self.token_times)

    def text(self, index: int) -> str:
        """The synthetic token at ``index``: a word chosen by the sequence and position."""
        return " " + VOCABULARY[(self.number * 7 + index * 13) % len(VOCABULARY)]


class BatchEngine:
    """Continuous batching on one instance; all methods take the current time."""

    def __init__(self, profile: LlmProfile, queue_bound: int, timeout_s: float,
                 now: float = 0.0) -> None:
        self.profile = profile
        self.queue_bound = queue_bound
        self.timeout_s = timeout_s
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.kv_used = 0
        self.iterations = 0
        self._batch: list[Sequence] = []  # the sequences the current iteration serves
        self._prefill = False
        self._end: float | None = None  # when the current iteration ends; None: idle
        self._area = 0.0  # integral of in_flight over time, for the concurrency metric
        self._area_at = now
        self._window_start = now

    @property
    def in_flight(self) -> int:
        """Requests in the container: queued plus running (ConcurrentRequestsPerModel)."""
        return len(self.waiting) + len(self.running) + (len(self._batch) if self._prefill else 0)

    def next_event_at(self) -> float | None:
        return self._end

    def _account(self, now: float) -> None:
        if now > self._area_at:
            self._area += self.in_flight * (now - self._area_at)
            self._area_at = now

    def take_concurrency(self, now: float) -> float:
        """Time-averaged requests in flight since the last call."""
        self._account(now)
        elapsed = now - self._window_start
        value = self._area / elapsed if elapsed > 0 else float(self.in_flight)
        self._area = 0.0
        self._window_start = now
        return value

    def submit(self, sequence: Sequence, now: float) -> bool:
        """Queue ``sequence`` (after advancing to ``now``); False if the queue is full."""
        self.advance(now)
        if len(self.waiting) >= self.queue_bound:
            sequence.error = QUEUE_FULL
            return False
        self._account(now)
        self.waiting.append(sequence)
        if self._end is None:
            self._start(now, [])
        return True

    def cancel(self, sequence: Sequence, now: float) -> None:
        """The client went away: drop the sequence and free its KV cache reservation."""
        if sequence.done:
            return
        self._account(now)
        if sequence in self.waiting:
            self.waiting.remove(sequence)
        elif sequence in self.running:
            self.running.remove(sequence)
            self.kv_used -= sequence.reserved
        elif sequence in self._batch:
            self._batch.remove(sequence)
            self.kv_used -= sequence.reserved
        sequence.error = CANCELLED

    def advance(self, now: float) -> list[Sequence]:
        """Run every iteration that ends by ``now``; the sequences that changed, in order."""
        changed: list[Sequence] = []
        while self._end is not None and self._end <= now:
            end = self._end
            self._account(end)
            self._finish(end, changed)
            self._start(end, changed)
        self._account(now)
        for sequence in changed:
            if sequence.notify is not None:
                sequence.notify()
        return changed

    def _finish(self, t: float, changed: list[Sequence]) -> None:
        batch = self._batch
        if self._prefill:
            self.running.extend(batch)
        for sequence in batch:
            if sequence.error is not None:
                continue
            sequence.token_times.append(t)
            if len(sequence.token_times) >= sequence.max_tokens:
                sequence.finished_at = t
                self.running.remove(sequence)
                self.kv_used -= sequence.reserved
            changed.append(sequence)
        self._batch = []
        self._prefill = False
        self._end = None

    def _start(self, t: float, changed: list[Sequence]) -> None:
        profile = self.profile
        while self.waiting and self.waiting[0].arrived + self.timeout_s <= t:
            expired = self.waiting.popleft()
            expired.error = TIMED_OUT
            changed.append(expired)
        admitted: list[Sequence] = []
        room = profile.max_num_seqs - len(self.running)
        while self.waiting and len(admitted) < room and (
                self.kv_used + self.waiting[0].reserved <= profile.kv_cache_tokens
                or not (self.running or admitted)):
            sequence = self.waiting.popleft()
            sequence.admitted_at = t
            self.kv_used += sequence.reserved
            admitted.append(sequence)
        self.iterations += 1
        if admitted:
            self._batch = admitted
            self._prefill = True
            self._end = t + profile.prefill_seconds(sum(s.input_tokens for s in admitted))
        elif self.running:
            self._batch = list(self.running)
            context = sum(s.context for s in self.running)
            self._end = t + profile.decode_seconds(len(self.running), context)
        else:
            self.iterations -= 1
            self._end = None
