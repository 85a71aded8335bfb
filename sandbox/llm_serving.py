"""The LLM instance over HTTP: SageMaker's response stream and OpenAI-compatible SSE routes.

- ``POST /endpoints/{name}/invocations-response-stream`` (InvokeEndpointWithResponseStream,
  SigV4 as ``sagemaker``): once the first token exists the answer starts, an AWS event stream of
  ``PayloadPart`` events carrying the container's bytes. Sometimes a part ends in the middle of
  an event (real ones do), and a cut stream ends with a ``ModelStreamError`` (``StreamBroken``).
  Anything that fails before the first token is an ordinary AWS error response. A plain
  ``/invocations`` on an LLM endpoint waits for the whole answer.
- ``POST /v1/completions`` and ``/v1/chat/completions``: vLLM's OpenAI server, no auth; with
  ``stream: true`` SSE chunks, else one JSON answer. A cut stream drops the connection.

Each instance's engine is driven by one task (``Pump``) that wakes when an iteration ends; the
handlers wait on their sequence and write whatever tokens it has when they wake, so tokens that
became ready together leave together, as from a busy server.

``LlmRoutes`` owns these routes and their pumps; the server (``sandbox.server``) composes it,
handing it the configuration, the simulation, its SigV4 check, its mapping of a failed
invocation to the runtime's AWS error and its router (which instance, or which inference
component's copy, a runtime request goes to), so that both runtime routes check and fail alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from sandbox.config import SandboxConfig
from sandbox.errors import AwsError
from sandbox.eventstream import exception_event, payload_part
from sandbox.instance import (
    INTERNAL_FAILURE,
    MODEL_ERROR,
    OK,
    QUEUE_FULL,
    TIMED_OUT,
    TIMEOUT_MESSAGE,
    Instance,
    Route,
    Served,
)
from sandbox.llm import CANCELLED, BatchEngine, Sequence
from sandbox.llm_payloads import CHAT, COMPLETION, BadLlmRequest, Formatter, parse_request
from sandbox.protocols import REST_JSON, encode_error
from sandbox.simulation import Simulation

SPLIT_PROBABILITY = 0.25  # of an event being cut across two PayloadParts
NOT_STREAMING = ("The model container of endpoint {name} does not support response streaming; "
                 "use InvokeEndpoint.")


class Pump:
    """Drives one engine on the event loop: advance at each iteration's end, wake the waiters."""

    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine
        self._kick = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="llm-engine")

    def submit(self, sequence: Sequence) -> bool:
        accepted = self.engine.submit(sequence, time.perf_counter())
        self._kick.set()
        return accepted

    def cancel(self, sequence: Sequence) -> None:
        self.engine.cancel(sequence, time.perf_counter())
        self._kick.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.engine.advance(time.perf_counter())
            self._kick.clear()
            wake = self.engine.next_event_at()
            timer = None if wake is None else loop.call_later(
                max(wake - time.perf_counter(), 0.0), self._kick.set)
            try:
                await self._kick.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def stop(self) -> None:
        self._task.cancel()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class LlmRoutes:
    """The streaming handlers of one sandbox server.

    ``verify(request, body, signing_name)`` raises ``AwsError`` for a bad signature;
    ``invocation_error(served)`` is the AWS error a failed invocation answers with;
    ``route(request)`` is where a runtime request goes, or raises the ``AwsError`` refusing it.
    """

    def __init__(self, config: SandboxConfig, simulation: Simulation, *,
                 verify: Callable[[web.Request, bytes, str], None],
                 invocation_error: Callable[[Served], AwsError],
                 route: Callable[[web.Request], Route]) -> None:
        self.config = config
        self.simulation = simulation
        self.verify = verify
        self.invocation_error = invocation_error
        self.route = route
        self._pumps: dict[int, Pump] = {}
        self._numbers = itertools.count(1)
        seed = config.seed
        self._rng = random.Random(seed if seed is not None else 14)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/endpoints/{name}/invocations-response-stream", self.sagemaker)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/chat/completions", self.chat)

    async def close(self) -> None:
        for pump in self._pumps.values():
            await pump.close()
        self._pumps.clear()

    def _live_servers(self) -> list[Instance]:
        fleet = self.simulation.fleet
        if fleet is None:
            return self.simulation.endpoint.instances
        return [c.server for comp in fleet.components.values() for c in comp.copies]

    def _pump(self, instance: Instance) -> Pump:
        if len(self._pumps) > len(self._live_servers()):
            self._forget_removed()
        pump = self._pumps.get(id(instance))
        if pump is None or pump.engine is not instance.engine:
            assert instance.engine is not None
            pump = self._pumps[id(instance)] = Pump(instance.engine)
        return pump

    def _forget_removed(self) -> None:
        """Stop the pumps of instances scaled away once their last stream has ended."""
        live = {id(i) for i in self._live_servers()}
        for key in [k for k, p in self._pumps.items()
                    if k not in live and p.engine.in_flight == 0]:
            self._pumps.pop(key).stop()

    # --- shared ------------------------------------------------------------------------------

    async def _start(self, body: bytes, shape: str | None, received: float, route: Route
                     ) -> tuple[Sequence, Formatter, Pump, float]:
        """Parse and queue a request on its route's server, then wait for its first token (or
        its end)."""
        instance = route.server
        llm = instance.profile.llm
        assert llm is not None
        request = parse_request(body, llm.default_max_tokens, llm.max_model_len, llm.model,
                                shape)
        pump = self._pump(instance)
        number = next(self._numbers)
        event = asyncio.Event()
        sequence = Sequence(request.input_tokens, request.max_tokens, time.perf_counter(),
                            number, event.set)
        sequence.received = received
        formatter = Formatter(request, f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()))
        if not pump.submit(sequence):
            return sequence, formatter, pump, 0.0
        try:
            while not sequence.token_times and not sequence.done:
                await event.wait()
                event.clear()
        except asyncio.CancelledError:
            pump.cancel(sequence)
            raise
        cut_after = 0.0
        rate = self.config.stream_error_rate
        if rate and sequence.max_tokens > 1 and self._rng.random() < rate:
            cut_after = self._rng.randint(1, sequence.max_tokens - 1)
        return sequence, formatter, pump, cut_after

    async def _tokens(self, sequence: Sequence, pump: Pump,
                      cut_after: float) -> AsyncIterator[tuple[int, int]]:
        """Yield (start, end) of the tokens that arrived since the last yield, until the end."""
        event = asyncio.Event()
        sequence.notify = event.set
        sent = 0
        while True:
            ready = len(sequence.token_times)
            if cut_after and ready >= cut_after:
                ready = int(cut_after)
            if ready > sent:
                yield sent, ready
                sent = ready
            if cut_after and sent >= cut_after:
                pump.cancel(sequence)
                return
            if sequence.done:
                return
            await event.wait()
            event.clear()

    def _record(self, kind: str, sequence: Sequence, route: Route) -> None:
        """ModelLatency: the engine's time (queue, prefill, decode); OverheadLatency: the rest
        of the request's time in the sandbox (reading, signature, routing, writing out)."""
        now = time.perf_counter()
        end = sequence.finished_at or now
        model_seconds = end - sequence.arrived if kind != QUEUE_FULL else None
        served = Served(kind, model_seconds=model_seconds)
        total = (model_seconds or 0.0) + (sequence.arrived - sequence.received) \
            + max(0.0, now - end)
        route.record(served, route.units, total)

    # --- SageMaker ---------------------------------------------------------------------------

    async def _start_invocation(self, body: bytes, received: float, route: Route
                                ) -> tuple[Sequence, Formatter, Pump, float]:
        """``_start`` for the runtime API: a refused or failed request is the AWS error."""
        try:
            sequence, formatter, pump, cut_after = await self._start(body, None, received,
                                                                     route)
        except BadLlmRequest as error:
            raise self.invocation_error(
                Served(MODEL_ERROR, message=str(error), original_status=400)) from None
        failed = self._failure(sequence)
        if failed is not None:
            self._record(failed.kind, sequence, route)
            raise self.invocation_error(failed)
        return sequence, formatter, pump, cut_after

    async def sagemaker(self, request: web.Request) -> web.StreamResponse:
        received = time.perf_counter()
        body = await request.read()
        try:
            self.verify(request, body, "sagemaker")
            route = self.route(request)
            if route.server.profile.llm is None:
                raise AwsError("ValidationError",
                               NOT_STREAMING.format(name=request.match_info["name"]))
            sequence, formatter, pump, cut_after = await self._start_invocation(
                body, received, route)
        except AwsError as error:
            return _error_response(error)
        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-SageMaker-Content-Type": "text/event-stream",
            "x-Amzn-Invoked-Production-Variant": self.config.variant,
            "x-amzn-RequestId": str(uuid.uuid4()),
        })
        await response.prepare(request)
        rng = random.Random(sequence.number)
        try:
            async for start, end in self._tokens(sequence, pump, cut_after):
                for event in formatter.events(sequence, start, end):
                    await self._write_parts(response, event, rng)
            if sequence.error == CANCELLED:
                await response.write(exception_event(
                    "ModelStreamError", "The model server's stream broke before it completed.",
                    "StreamBroken"))
                self._record(INTERNAL_FAILURE, sequence, route)
            else:
                for event in formatter.closing(sequence):
                    await response.write(payload_part(event))
                self._record(OK, sequence, route)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pump.cancel(sequence)
            raise
        return response

    async def whole(self, body: bytes, received: float, route: Route) -> web.Response:
        """InvokeEndpoint on an LLM endpoint: the whole answer once the last token exists."""
        try:
            sequence, formatter, pump, _ = await self._start_invocation(body, received, route)
        except AwsError as error:
            return _error_response(error)
        async for _ in self._tokens(sequence, pump, 0.0):
            pass
        self._record(OK, sequence, route)
        return web.Response(body=formatter.whole(sequence), headers={
            "Content-Type": "application/json",
            "x-Amzn-Invoked-Production-Variant": self.config.variant,
            "x-amzn-RequestId": str(uuid.uuid4())})

    @staticmethod
    async def _write_parts(response: web.StreamResponse, event: bytes,
                           rng: random.Random) -> None:
        if len(event) > 8 and rng.random() < SPLIT_PROBABILITY:
            cut = rng.randrange(1, len(event) - 1)
            await response.write(payload_part(event[:cut]) + payload_part(event[cut:]))
        else:
            await response.write(payload_part(event))

    def _failure(self, sequence: Sequence) -> Served | None:
        if sequence.error is None:
            return None
        if sequence.error == TIMED_OUT:
            return Served(TIMED_OUT, message=TIMEOUT_MESSAGE)
        return Served(QUEUE_FULL, message="The endpoint's instance queue is full.")

    # --- OpenAI-compatible -------------------------------------------------------------------

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._openai(request, COMPLETION)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._openai(request, CHAT)

    async def _openai(self, request: web.Request, shape: str) -> web.StreamResponse:
        received = time.perf_counter()
        body = await request.read()
        endpoint = self.simulation.endpoint
        if self.simulation.fleet is not None:
            return _openai_error(404, "This sandbox's endpoint hosts inference components; "
                                      "invoke them through the SageMaker runtime.",
                                 "NotFoundError")
        if endpoint.profile.llm is None:
            return _openai_error(404, "This sandbox's instances serve no language model; start "
                                      "it with an LLM instance type.", "NotFoundError")
        route = endpoint.routed()
        try:
            sequence, formatter, pump, cut_after = await self._start(body, shape, received,
                                                                     route)
        except BadLlmRequest as error:
            return _openai_error(400, str(error), "BadRequestError")
        failed = self._failure(sequence)
        if failed is not None:
            self._record(failed.kind, sequence, route)
            status = 503 if failed.kind == QUEUE_FULL else 504
            return _openai_error(status, failed.message, "ServiceUnavailableError")
        if not formatter.request.stream:
            async for _ in self._tokens(sequence, pump, 0.0):
                pass
            self._record(OK, sequence, route)
            return web.Response(body=formatter.whole(sequence),
                                content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            async for start, end in self._tokens(sequence, pump, cut_after):
                await response.write(b"".join(formatter.events(sequence, start, end)))
            if sequence.error == CANCELLED:
                self._record(INTERNAL_FAILURE, sequence, route)
                if request.transport is not None:
                    request.transport.close()  # a dropped connection, no [DONE]
                return response
            await response.write(b"".join(formatter.closing(sequence)))
            self._record(OK, sequence, route)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pump.cancel(sequence)
            raise
        return response


def _openai_error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"object": "error", "message": message, "type": kind,
                              "param": None, "code": status}, status=status)


def _error_response(error: AwsError) -> web.Response:
    code, payload, headers = encode_error(REST_JSON, error)
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return web.Response(status=code, body=payload, headers=headers)
