"""Prompts files (JSON Lines), their errors by file and line, and synthetic prompts."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from driver.profile.prompts import (
    LengthDistribution,
    Prompt,
    PromptsError,
    PromptSource,
    SyntheticPrompts,
    load_prompts,
    request_body,
)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prompt_and_messages_lines_with_optional_max_tokens(tmp_path: Path) -> None:
    path = write(tmp_path,
                 '{"prompt": "Tell me a story", "max_tokens": 64}',
                 "",
                 '{"messages": [{"role": "system", "content": "Be brief."}, '
                 '{"role": "user", "content": "What is a GPU?"}]}')
    prompts = load_prompts(path)
    assert prompts[0] == Prompt(prompt="Tell me a story", max_tokens=64)
    assert prompts[1].messages is not None and prompts[1].messages[1]["content"] == \
        "What is a GPU?"
    assert prompts[1].max_tokens is None
    assert prompts[1].input_words == 6


@pytest.mark.parametrize(("line", "problem"), [
    ('{"prompt": "a"', "not valid JSON"),
    ('["a"]', "expected a JSON object, got list"),
    ('{"prompt": "a", "messages": []}', "needs exactly one of 'prompt' or 'messages'"),
    ('{"max_tokens": 5}', "needs exactly one of 'prompt' or 'messages'"),
    ('{"prompt": "  "}', "prompt must be a non-empty string"),
    ('{"prompt": "a", "max_tokens": 0}', "max_tokens must be a positive whole number"),
    ('{"prompt": "a", "max_tokens": true}', "max_tokens must be a positive whole number"),
    ('{"prompt": "a", "temperature": 0}', "unknown field 'temperature'"),
    ('{"messages": []}', "messages must be a non-empty list"),
    ('{"messages": [{"role": "robot", "content": "x"}]}', "messages[0].role must be one of"),
    ('{"messages": [{"role": "user", "content": 3}]}', "messages[0].content must be a string"),
])
def test_each_bad_line_names_file_line_and_what_is_wrong(tmp_path: Path, line: str,
                                                         problem: str) -> None:
    path = write(tmp_path, '{"prompt": "fine"}', line)
    with pytest.raises(PromptsError) as caught:
        load_prompts(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{path}:2: ")
    assert problem in caught.value.problems[0]


def test_every_bad_line_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "{", '{"prompt": "ok"}', "{}", "[]")
    with pytest.raises(PromptsError) as caught:
        load_prompts(path)
    assert [p.split(": ")[0] for p in caught.value.problems] == [
        f"{path}:1", f"{path}:3", f"{path}:4"]


def test_missing_empty_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(PromptsError, match="cannot read"):
        load_prompts(tmp_path / "nope.jsonl")
    empty = write(tmp_path, "", "  ")
    with pytest.raises(PromptsError, match="no prompts"):
        load_prompts(empty)
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PromptsError, match="not UTF-8"):
        load_prompts(binary)


def test_sequence_wraps_and_random_is_seeded() -> None:
    prompts = [Prompt(prompt=str(i)) for i in range(3)]
    source = PromptSource(prompts, "sequence")
    assert [source.next().prompt for _ in range(7)] == ["0", "1", "2", "0", "1", "2", "0"]
    first = [PromptSource(prompts, "random", seed=5).next().prompt for _ in range(1)]
    again = [PromptSource(prompts, "random", seed=5).next().prompt for _ in range(1)]
    assert first == again
    drawn = PromptSource(prompts, "random", seed=1)
    assert {drawn.next().prompt for _ in range(60)} == {"0", "1", "2"}
    with pytest.raises(ValueError, match="order"):
        PromptSource(prompts, "shuffled")


def test_length_distributions() -> None:
    rng = random.Random(3)
    assert {LengthDistribution.fixed(128).sample(rng) for _ in range(10)} == {128}
    uniform = [LengthDistribution.uniform(10, 20).sample(rng) for _ in range(2000)]
    assert min(uniform) == 10 and max(uniform) == 20
    normal = [LengthDistribution.normal(200, 30).sample(rng) for _ in range(4000)]
    assert 195 < statistics.mean(normal) < 205
    assert 27 < statistics.stdev(normal) < 33
    clamped = [LengthDistribution.normal(2, 50, maximum=40).sample(rng) for _ in range(500)]
    assert min(clamped) == 1 and max(clamped) == 40
    with pytest.raises(ValueError):
        LengthDistribution.uniform(5, 4)
    with pytest.raises(ValueError):
        LengthDistribution("poisson", 3)


def test_synthetic_prompts_follow_their_lengths_and_seed() -> None:
    make = lambda: SyntheticPrompts(LengthDistribution.uniform(50, 60),  # noqa: E731
                                    LengthDistribution.fixed(32), seed=9)
    one, two = make(), make()
    a = [one.next() for _ in range(50)]
    assert a == [two.next() for _ in range(50)]
    assert all(50 <= p.input_words <= 60 and p.max_tokens == 32 for p in a)
    chat = SyntheticPrompts(LengthDistribution.fixed(5), LengthDistribution.fixed(1), chat=True)
    assert chat.next().messages[0]["role"] == "user"  # type: ignore[index]


def test_request_bodies_per_shape() -> None:
    prompt = Prompt(prompt="hello world", max_tokens=7)
    assert json.loads(request_body(prompt, "tgi")) == {
        "inputs": "hello world", "stream": True,
        "parameters": {"max_new_tokens": 7, "details": True}}
    chat = json.loads(request_body(prompt, "chat", model="m"))
    assert chat["messages"] == [{"role": "user", "content": "hello world"}]
    assert chat["stream_options"] == {"include_usage": True} and chat["model"] == "m"
    plain = json.loads(request_body(Prompt(prompt="x"), "completions", stream=False,
                                    default_max_tokens=3))
    assert plain == {"max_tokens": 3, "stream": False, "prompt": "x"}
    with pytest.raises(ValueError):
        request_body(prompt, "grpc")
