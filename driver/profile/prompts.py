"""Prompts for LLM load: a JSON Lines file, or synthetic prompts with length distributions.

A prompts file has one JSON object per line: ``{"prompt": "..."}`` or
``{"messages": [{"role": "user", "content": "..."}]}``, optionally with ``"max_tokens": N``.
Blank lines are skipped. Every invalid line is reported as ``file:line: what is wrong`` and
nothing is sent (``PromptsError.problems`` holds them all, up to ``MAX_PROBLEMS``).

Synthetic prompts (as vLLM's ``random`` dataset, GuideLLM and genai-perf offer) draw an input
length and an output length per request from a fixed, uniform or normal distribution with a
seed, and make a prompt of that many words. A word stands for a token: without the model's
tokenizer the counts are estimates, which the stream's usage later corrects.

``PromptSource`` hands prompts out in sequence or at random; ``request_body`` turns one into the
JSON a target expects (TGI ``generate_stream``, OpenAI chat or completions).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_PROBLEMS = 20
ROLES = ("system", "user", "assistant", "tool", "developer")
FIELDS = ("prompt", "messages", "max_tokens")
ORDERS = ("sequence", "random")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
         "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu")


class PromptsError(ValueError):
    """A prompts file that cannot be used; each problem is ``file:line: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's input: a prompt or chat messages, and the output length to ask for."""

    prompt: str | None = None
    messages: tuple[dict[str, str], ...] | None = None
    max_tokens: int | None = None

    @property
    def input_words(self) -> int:
        """The input's length in words, the estimate of its tokens."""
        if self.messages is not None:
            return sum(len(m["content"].split()) for m in self.messages)
        return len((self.prompt or "").split())


def _check(data: object) -> tuple[Prompt | None, str | None]:
    """A prompt from one parsed line, or what is wrong with it."""
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got {type(data).__name__}"
    unknown = [key for key in data if key not in FIELDS]
    if unknown:
        return None, f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})"
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(
            max_tokens, bool) or max_tokens < 1):
        return None, f"max_tokens must be a positive whole number, not {max_tokens!r}"
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt == has_messages:
        return None, "needs exactly one of 'prompt' or 'messages'"
    if has_prompt:
        text = data["prompt"]
        if not isinstance(text, str) or not text.strip():
            return None, "prompt must be a non-empty string"
        return Prompt(prompt=text, max_tokens=max_tokens), None
    messages = data["messages"]
    if not isinstance(messages, list) or not messages:
        return None, "messages must be a non-empty list"
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return None, f"messages[{index}] must be an object with role and content"
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            return None, f"messages[{index}].role must be one of {', '.join(ROLES)}, not {role!r}"
        if not isinstance(content, str):
            return None, f"messages[{index}].content must be a string"
        checked.append({"role": role, "content": content})
    return Prompt(messages=tuple(checked), max_tokens=max_tokens), None


def parse_prompts(text: str, name: str) -> list[Prompt]:
    """Prompts from JSON Lines ``text``; ``name`` is the file named in problems."""
    prompts: list[Prompt] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{name}:{number}: not valid JSON ({error.msg} at column "
                            f"{error.colno})")
            continue
        prompt, problem = _check(data)
        if problem is not None:
            problems.append(f"{name}:{number}: {problem}")
        elif prompt is not None:
            prompts.append(prompt)
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{name}: stopped after {MAX_PROBLEMS} problems")
            break
    if problems:
        raise PromptsError(problems)
    if not prompts:
        raise PromptsError([f"{name}: no prompts (one JSON object per line)"])
    return prompts


def load_prompts(path: str | Path) -> list[Prompt]:
    """Read a prompts file; PromptsError names the file and line of every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PromptsError([f"{path}: cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError:
        raise PromptsError([f"{path}: not UTF-8 text"]) from None
    return parse_prompts(text, str(path))


@dataclass(frozen=True, slots=True)
class LengthDistribution:
    """Token counts: ``fixed`` (value), ``uniform`` (low..high) or ``normal`` (mean, stddev).

    Samples are whole numbers of at least ``minimum``; a normal sample is clamped to
    [minimum, maximum] rather than redrawn, so the seed alone fixes the sequence.
    """

    kind: str
    value: float
    low: int = 1
    high: int = 1
    stddev: float = 0.0
    minimum: int = 1
    maximum: int | None = None

    @classmethod
    def fixed(cls, value: int) -> LengthDistribution:
        return cls("fixed", value, value, value)

    @classmethod
    def uniform(cls, low: int, high: int) -> LengthDistribution:
        if not 1 <= low <= high:
            raise ValueError(f"uniform lengths need 1 <= low <= high, got {low}..{high}")
        return cls("uniform", (low + high) / 2, low, high)

    @classmethod
    def normal(cls, mean: float, stddev: float, maximum: int | None = None
               ) -> LengthDistribution:
        if mean < 1 or stddev < 0:
            raise ValueError("normal lengths need mean >= 1 and stddev >= 0")
        return cls("normal", mean, stddev=stddev, maximum=maximum)

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform", "normal"):
            raise ValueError(f"unknown length distribution {self.kind!r}")
        if self.kind == "fixed" and self.value < 1:
            raise ValueError("a fixed length must be at least 1")

    def sample(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            return int(self.value)
        if self.kind == "uniform":
            return rng.randint(self.low, self.high)
        drawn = round(rng.gauss(self.value, self.stddev))
        if self.maximum is not None:
            drawn = min(drawn, self.maximum)
        return max(drawn, self.minimum)


class SyntheticPrompts:
    """Prompts of sampled lengths, reproducible from ``seed``."""

    def __init__(self, input_tokens: LengthDistribution, output_tokens: LengthDistribution,
                 seed: int = 0, chat: bool = False) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.chat = chat
        self._rng = random.Random(seed)

    def next(self) -> Prompt:
        rng = self._rng
        count = self.input_tokens.sample(rng)
        start = rng.randrange(len(WORDS))
        text = " ".join(WORDS[(start + i * 7) % len(WORDS)] for i in range(count))
        max_tokens = self.output_tokens.sample(rng)
        if self.chat:
            return Prompt(messages=({"role": "user", "content": text},), max_tokens=max_tokens)
        return Prompt(prompt=text, max_tokens=max_tokens)


class PromptSource:
    """Prompts from a file in ``sequence`` (wrapping around) or ``random`` order (seeded)."""

    def __init__(self, prompts: Sequence[Prompt], order: str = "sequence",
                 seed: int | None = None) -> None:
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        if not prompts:
            raise ValueError("no prompts")
        self._prompts = list(prompts)
        self._random = order == "random"
        self._rng = random.Random(seed)
        self._index = 0

    def next(self) -> Prompt:
        if self._random:
            return self._prompts[self._rng.randrange(len(self._prompts))]
        prompt = self._prompts[self._index]
        self._index = (self._index + 1) % len(self._prompts)
        return prompt


def request_body(prompt: Prompt, shape: str, *, default_max_tokens: int = 128,
                 model: str | None = None, stream: bool = True, ignore_eos: bool = False,
                 extra: dict[str, object] | None = None) -> bytes:
    """The JSON body for a target: ``tgi`` (inputs), ``chat`` or ``completions`` (OpenAI).

    OpenAI bodies ask for usage in the stream so token counts are exact; a chat prompt sent to
    a completions or TGI target is its messages' contents joined by newlines. ``ignore_eos``
    asks an OpenAI-compatible server (vLLM, SGLang) for exactly ``max_tokens``; ``extra``
    fields (``min_tokens``, ``temperature``...) are added as given, into TGI's
    ``parameters`` (the profile parser refuses the fields set here).
    """
    max_tokens = prompt.max_tokens or default_max_tokens
    text = prompt.prompt if prompt.prompt is not None else "\n".join(
        m["content"] for m in prompt.messages or ())
    if shape == "tgi":
        body: dict[str, object] = {"inputs": text, "stream": stream,
                                   "parameters": {"max_new_tokens": max_tokens,
                                                  "details": True}}
    elif shape in ("chat", "completions"):
        body = {"max_tokens": max_tokens, "stream": stream}
        if shape == "chat":
            body["messages"] = list(prompt.messages) if prompt.messages is not None else [
                {"role": "user", "content": text}]
        else:
            body["prompt"] = text
        if stream:
            body["stream_options"] = {"include_usage": True}
        if model is not None:
            body["model"] = model
        if ignore_eos:
            body["ignore_eos"] = True
    else:
        raise ValueError(f"unknown request shape {shape!r} (tgi, chat, completions)")
    if extra:
        into = body["parameters"] if shape == "tgi" else body
        into.update(extra)  # type: ignore[attr-defined]
    return json.dumps(body, separators=(",", ":")).encode()
