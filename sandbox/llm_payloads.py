"""What an LLM container streams: request parsing and the three payload shapes.

A request names its shape by its fields, as the containers that accept several do:
``inputs`` is TGI's ``generate_stream`` (``data:{"token":...}`` events, the last one with
``generated_text`` and ``details.generated_tokens``); ``messages`` is an OpenAI chat completion
and ``prompt`` an OpenAI completion (``data: {...}`` chunks, an optional usage chunk when
``stream_options.include_usage`` is set, then ``data: [DONE]``). Tokens are synthetic words and
the prompt's tokens are its whitespace-separated words: no tokenizer, no model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sandbox.llm import Sequence

TGI = "tgi"
CHAT = "chat"
COMPLETION = "completion"


class BadLlmRequest(ValueError):
    """The container rejects the request with 400 and this message."""


@dataclass(frozen=True, slots=True)
class LlmRequest:
    shape: str
    input_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    model: str


def _words(text: object) -> int:
    return len(str(text).split())


def parse_request(body: bytes, default_max_tokens: int, max_model_len: int,
                  model: str, shape: str | None = None) -> LlmRequest:
    """Read a request body; ``shape`` forces chat or completion (the OpenAI routes)."""
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadLlmRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadLlmRequest("The request body must be a JSON object.")
    if shape is None:
        shape = TGI if "inputs" in data else CHAT if "messages" in data else \
            COMPLETION if "prompt" in data else None
        if shape is None:
            raise BadLlmRequest("The request needs 'inputs', 'messages' or 'prompt'.")
    if shape == TGI:
        parameters = data.get("parameters") or {}
        max_tokens = parameters.get("max_new_tokens", default_max_tokens)
        input_tokens = _words(data["inputs"])
        stream = True
    elif shape == CHAT:
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and "content" in m for m in messages):
            raise BadLlmRequest("'messages' must be a non-empty list of objects with 'content'.")
        input_tokens = sum(_words(m["content"]) for m in messages)
        max_tokens = data.get("max_completion_tokens", data.get("max_tokens", default_max_tokens))
        stream = bool(data.get("stream", False))
    else:
        if "prompt" not in data:
            raise BadLlmRequest("'prompt' is required.")
        input_tokens = _words(data["prompt"])
        max_tokens = data.get("max_tokens", default_max_tokens)
        stream = bool(data.get("stream", False))
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadLlmRequest("max_tokens must be a positive integer.")
    if input_tokens + max_tokens > max_model_len:
        raise BadLlmRequest(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {input_tokens + max_tokens} tokens ({input_tokens} in the messages, "
            f"{max_tokens} in the completion).")
    options = data.get("stream_options") or {}
    return LlmRequest(shape, max(input_tokens, 1), max_tokens, stream,
                      bool(isinstance(options, dict) and options.get("include_usage")),
                      str(data.get("model") or model))


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Formatter:
    """Turns a sequence's new tokens into the container's bytes, event by event."""

    def __init__(self, request: LlmRequest, request_id: str, created: int) -> None:
        self.request = request
        self.request_id = request_id
        self.created = created

    def events(self, sequence: Sequence, start: int, end: int) -> list[bytes]:
        """The events for tokens ``start``..``end`` (OpenAI shapes put them in one chunk)."""
        request = self.request
        finished = sequence.finished_at is not None and end == len(sequence.token_times)
        if request.shape == TGI:
            out = []
            for index in range(start, end):
                last = finished and index == end - 1
                event = {"token": {"id": 1000 + index, "text": sequence.text(index),
                                   "logprob": -0.25, "special": False},
                         "generated_text": self.full_text(sequence) if last else None,
                         "details": {"finish_reason": "length", "generated_tokens": end,
                                     "seed": None} if last else None}
                out.append(b"data:" + _dumps(event) + b"\n\n")
            return out
        text = "".join(sequence.text(i) for i in range(start, end))
        out = []
        if request.shape == CHAT and start == 0:
            out.append(self._chunk({"role": "assistant", "content": ""}, None))
        out.append(self._chunk(text, "length" if finished else None))
        return out

    def _chunk(self, content: object, finish: str | None) -> bytes:
        request = self.request
        if request.shape == CHAT:
            delta = content if isinstance(content, dict) else {"content": content}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish}
            kind = "text_completion"
        chunk = {"id": self.request_id, "object": kind, "created": self.created,
                 "model": request.model, "choices": [choice]}
        if request.include_usage:
            chunk["usage"] = None
        return b"data: " + _dumps(chunk) + b"\n\n"

    def closing(self, sequence: Sequence) -> list[bytes]:
        """After the last token: the usage chunk if asked for, and ``[DONE]`` (OpenAI shapes)."""
        request = self.request
        if request.shape == TGI:
            return []
        out = []
        if request.include_usage:
            out.append(b"data: " + _dumps({
                "id": self.request_id, "created": self.created, "model": request.model,
                "object": "chat.completion.chunk" if request.shape == CHAT
                else "text_completion",
                "choices": [], "usage": self.usage(sequence)}) + b"\n\n")
        out.append(b"data: [DONE]\n\n")
        return out

    def usage(self, sequence: Sequence) -> dict[str, int]:
        generated = len(sequence.token_times)
        return {"prompt_tokens": sequence.input_tokens, "completion_tokens": generated,
                "total_tokens": sequence.input_tokens + generated}

    def full_text(self, sequence: Sequence) -> str:
        return "".join(sequence.text(i) for i in range(len(sequence.token_times)))

    def whole(self, sequence: Sequence) -> bytes:
        """The non-streaming answer, once every token is there."""
        request = self.request
        text = self.full_text(sequence)
        if request.shape == TGI:
            return _dumps([{"generated_text": text}])
        if request.shape == CHAT:
            choice: dict[str, object] = {"index": 0, "finish_reason": "length", "logprobs": None,
                                         "message": {"role": "assistant", "content": text}}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "finish_reason": "length", "logprobs": None, "text": text}
            kind = "text_completion"
        return _dumps({"id": self.request_id, "object": kind, "created": self.created,
                       "model": request.model, "choices": [choice],
                       "usage": self.usage(sequence)})
