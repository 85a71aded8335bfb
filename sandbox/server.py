"""The sandbox's HTTP server: four AWS APIs on one port, and the clock that drives the simulation.

Routing, as botocore addresses each service at ``endpoint_url``:

- ``POST /endpoints/{name}/invocations``: SageMaker runtime InvokeEndpoint (REST, signed as
  ``sagemaker``); ``/invocations-response-stream`` and the OpenAI-compatible ``/v1/...``
  routes of an LLM instance are ``llm_serving``'s ``LlmRoutes``, which the server builds and
  hands what they share with ``/invocations``: the simulation, the SigV4 check and the mapping
  of a failed invocation to its AWS error.
- ``POST /`` with ``X-Amz-Target``: ``SageMaker.*`` (JSON 1.1), ``AnyScaleFrontendService.*``
  (Application Auto Scaling, JSON 1.1), ``GraniteServiceVersion20100801.*`` (CloudWatch, JSON
  1.0, as botocore before the CBOR switch and other SDKs send it).
- ``POST /service/GraniteServiceVersion20100801/operation/{op}``: CloudWatch over Smithy RPC v2
  CBOR, what botocore 1.40+ sends.
- ``GET /_sandbox/health`` and ``GET /_sandbox/state``: unauthenticated, for readiness and
  debugging.

Every AWS request must carry a valid SigV4 signature (see ``sigv4``); errors use the error
format of the request's protocol so botocore raises the right ``ClientError`` code.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox import api_autoscaling, api_cloudwatch, api_sagemaker
from sandbox.components import COMPONENT_HEADER
from sandbox.config import SandboxConfig, SandboxHandle
from sandbox.errors import AwsError, unknown_operation
from sandbox.instance import MODEL_ERROR, OK, QUEUE_FULL, THROTTLED, TIMED_OUT, Route, Served
from sandbox.llm_serving import LlmRoutes
from sandbox.model import IrisModel
from sandbox.protocols import (
    CBOR,
    JSON_1_0,
    JSON_1_1,
    REST_JSON,
    decode_cbor,
    decode_json,
    encode,
    encode_error,
)
from sandbox.sigv4 import SignatureVerifier
from sandbox.simulation import Simulation

log = logging.getLogger("sandbox")

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's real-time payload limit
CLOUDWATCH_TARGET = "GraniteServiceVersion20100801"


@dataclass(frozen=True, slots=True)
class _Service:
    signing_name: str
    operations: dict[str, Callable[[Simulation, dict[str, Any], float], dict[str, Any]]]
    content_type: str
    query_compatible: bool = False


SERVICES = {
    "SageMaker": _Service("sagemaker", api_sagemaker.OPERATIONS, JSON_1_1),
    "AnyScaleFrontendService": _Service("application-autoscaling", api_autoscaling.OPERATIONS,
                                        JSON_1_1),
    CLOUDWATCH_TARGET: _Service("monitoring", api_cloudwatch.OPERATIONS, JSON_1_0,
                                query_compatible=True),
}


class SandboxServer(SandboxHandle):
    """A running sandbox on this event loop: ``url``, ``close()``, and the live simulation."""

    def __init__(self, config: SandboxConfig, simulation: Simulation,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.simulation = simulation
        self._wall = wall
        self.verifier = SignatureVerifier(
            {config.credentials.access_key_id: config.credentials.secret_access_key},
            config.region, wall)
        self.host = "127.0.0.1"
        self.port = 0
        self.started = wall()
        self._runner: web.AppRunner | None = None
        self.llm: LlmRoutes | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._invocation_headers = {
            "Content-Type": "text/csv; charset=utf-8",
            "x-Amzn-Invoked-Production-Variant": config.variant,
        }
        # Request ids shaped like AWS's UUIDs; a counter costs a tenth of uuid4 per request.
        self._request_ids = itertools.count()
        self._request_id_prefix = str(uuid.uuid4())[:24]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint_url(self) -> str:  # type: ignore[override]
        return self.url if self.port else ""

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=MAX_PAYLOAD + 1024 * 1024)
        app.router.add_post("/endpoints/{name}/invocations", self._invoke)
        self.llm = LlmRoutes(self.config, self.simulation, verify=self._verify,
                             invocation_error=self._invocation_error, route=self._route)
        self.llm.add_routes(app)
        app.router.add_post("/", self._json_rpc)
        app.router.add_post("/service/{service}/operation/{operation}", self._cbor_rpc)
        app.router.add_get("/_sandbox/health", self._health)
        app.router.add_get("/_sandbox/state", self._state)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        self.host = host
        self.port = self._runner.addresses[0][1]
        self._clock_task = asyncio.create_task(self._clock(), name="sandbox-clock")

    async def close(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self.llm is not None:
            await self.llm.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the clock ---------------------------------------------------------------------------

    async def _clock(self) -> None:
        """Step the simulation whenever it has something to do, or when an API call changed it."""
        loop = asyncio.get_running_loop()
        while True:
            now = self._wall()
            try:
                self.simulation.step(now)
                wake = self.simulation.next_wakeup(now)
            except Exception:
                log.exception("sandbox clock step failed")
                wake = now + 1.0
            self._kick.clear()
            # A millisecond late so that period boundaries have passed on every clock. A timer
            # setting the event, not asyncio.wait_for: on 3.11 wait_for can swallow the
            # cancellation that close() sends when the event is set at the same moment.
            delay = max(wake - self._wall(), 0.0) + 0.001
            timer = loop.call_later(delay, self._kick.set)
            try:
                await self._kick.wait()
            finally:
                timer.cancel()

    # --- the runtime -------------------------------------------------------------------------

    def _verify(self, request: web.Request, body: bytes, service: str) -> None:
        self.verifier.verify(request.method, request.raw_path, request.headers, body, service)

    async def _invoke(self, request: web.Request) -> web.Response:
        received = time.perf_counter()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error_response(REST_JSON, AwsError(
                "ValidationError", "Payload size exceeds the limit of 6 MB."))
        try:
            self._verify(request, body, "sagemaker")
            if len(body) > MAX_PAYLOAD:
                raise AwsError("ValidationError", "Payload size exceeds the limit of 6 MB.")
            route = self._route(request)
            if route.server.profile.llm is not None and self.llm is not None:
                return await self.llm.whole(body, received, route)
            served = await self.simulation.endpoint.invoke(
                body, request.headers.get("Content-Type"), received, route)
        except AwsError as error:
            return _error_response(REST_JSON, error)
        if served.kind == OK:
            headers = dict(self._invocation_headers)
            headers["x-amzn-RequestId"] = f"{self._request_id_prefix}{next(self._request_ids):012x}"
            return web.Response(body=served.body, headers=headers)
        return _error_response(REST_JSON, self._invocation_error(served))

    def _route(self, request: web.Request) -> Route:
        """Where a runtime invocation goes, or the AWS error that refuses it.

        Checked in SageMaker's order as far as it shows: the endpoint, the variant, a target
        model (only multi-model endpoints take one; the sandbox has none), throttling, then the
        inference component header on an endpoint with components.
        """
        endpoint = self.simulation.endpoint
        name = request.match_info["name"]
        account = self.config.account_id
        if name != endpoint.name:
            raise AwsError("ValidationError", f"Endpoint {name} of account {account} not found.")
        headers = request.headers
        variant = headers.get("X-Amzn-SageMaker-Target-Variant")
        if variant is not None and variant != endpoint.variant:
            raise AwsError("ValidationError", f"Variant {variant} of endpoint {name} of "
                                              f"account {account} not found.")
        if headers.get("X-Amzn-SageMaker-Target-Model") is not None:
            raise AwsError("ValidationError", f"Endpoint {name} of account {account} is not a "
                                              "multi-model endpoint; TargetModel is not allowed.")
        if endpoint.throttled_now():
            raise self._invocation_error(Served(THROTTLED, message="Rate exceeded"))
        component = headers.get(COMPONENT_HEADER)
        fleet = self.simulation.fleet
        if fleet is None:
            if component is not None:
                raise AwsError("ValidationError", f"Inference Component {component} not found "
                                                  f"for endpoint {name} of account {account}.")
            return endpoint.routed()
        return fleet.route(component, name)

    def _invocation_error(self, served: Served) -> AwsError:
        if served.kind == MODEL_ERROR:
            log_group = f"/aws/sagemaker/Endpoints/{self.config.endpoint_name}"
            message = (f'Received client error ({served.original_status}) from primary with '
                       f'message "{served.message}". See {log_group} in account '
                       f"{self.config.account_id} for more information.")
            return AwsError("ModelError", message, 424, fields={
                "ErrorCode": ("CLIENT_ERROR_FROM_MODEL" if served.original_status < 500
                              else "SERVER_ERROR_FROM_MODEL"),
                "OriginalStatusCode": served.original_status,
                "OriginalMessage": served.message,
                "LogStreamArn": (f"arn:aws:logs:{self.config.region}:{self.config.account_id}:"
                                 f"log-group:{log_group}"),
            })
        if served.kind == TIMED_OUT:
            return AwsError("ModelError", served.message, 424)
        if served.kind == QUEUE_FULL:
            return AwsError("ServiceUnavailable", served.message, 503)
        if served.kind == THROTTLED:
            # HTTP 400, not 429: SageMaker's runtime throttles with a 400 ThrottlingException.
            return AwsError("ThrottlingException", served.message, 400)
        return AwsError("InternalFailure", served.message, 500)

    # --- the control planes ------------------------------------------------------------------

    async def _json_rpc(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.partition(".")
        service = SERVICES.get(prefix)
        if service is None:
            content_type = request.headers.get("Content-Type", JSON_1_1).split(";")[0]
            if content_type not in (JSON_1_0, JSON_1_1):
                content_type = JSON_1_1
            return _error_response(content_type, unknown_operation(target or "(no X-Amz-Target)"))
        return await self._call(request, service, operation, service.content_type, decode_json)

    async def _cbor_rpc(self, request: web.Request) -> web.Response:
        service = SERVICES.get(request.match_info["service"])
        if service is None or not service.query_compatible:
            return _error_response(CBOR, unknown_operation(request.match_info["service"]),
                                   status=404)
        return await self._call(request, service, request.match_info["operation"], CBOR,
                                decode_cbor)

    async def _call(self, request: web.Request, service: _Service, operation: str,
                    content_type: str,
                    decode: Callable[[bytes], dict[str, Any]]) -> web.Response:
        body = await request.read()
        try:
            self._verify(request, body, service.signing_name)
            handler = service.operations.get(operation)
            if handler is None:
                raise unknown_operation(operation)
            params = decode(body)
            now = self._wall()
            self.simulation.step(now)
            result = handler(self.simulation, params, now)
        except AwsError as error:
            return _error_response(content_type, error, service.query_compatible)
        except Exception:
            log.exception("%s.%s failed", service.signing_name, operation)
            return _error_response(content_type, AwsError(
                "InternalFailure", "The sandbox failed to handle the request; see its log.",
                500), service.query_compatible)
        self._kick.set()  # the call may have changed what the clock waits for
        payload, headers = encode(content_type, result)
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return web.Response(body=payload, headers=headers)

    # --- debugging ---------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "url": self.url,
                                  "endpoint": self.config.endpoint_name})

    async def _state(self, request: web.Request) -> web.Response:
        scaler = self.simulation.autoscaler
        return web.json_response({
            "url": self.url,
            "uptime_s": round(self._wall() - self.started, 3),
            "period_s": self.simulation.period,
            "concurrency_period_s": self.simulation.tick,
            "timings": {
                "publication_delay_s": self.config.timings.publication_delay_s,
                "provisioning_delay_s": self.config.timings.provisioning_delay_s,
                "deprovisioning_delay_s": self.config.timings.deprovisioning_delay_s,
            },
            "routing": self.config.routing,
            "endpoint": self.simulation.endpoint.snapshot(),
            "inference_components": (None if self.simulation.fleet is None
                                     else self.simulation.fleet.snapshot()),
            "alarms": {a.name: a.state for a in self.simulation.alarms.alarms.values()},
            "scalable_targets": sorted(scaler.targets),
            "policies": [{"resource_id": r, "name": n, "target_value": p.target_value}
                         for (r, n), p in scaler.policies.items()],
            "activities": len(scaler.activities),
            "signatures": {"verified": self.verifier.verified,
                           "cache_hits": self.verifier.cache_hits},
        })

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error_response(JSON_1_1, unknown_operation(f"{request.method} {request.path}"),
                               status=404)


def _error_response(content_type: str, error: AwsError, query_compatible: bool = False,
                    status: int | None = None) -> web.Response:
    """``status`` overrides the error's own, for routing errors (404) that AWS sends that way."""
    code, body, headers = encode_error(content_type, error, query_compatible)
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return web.Response(status=status or code, body=body, headers=headers)


async def start_sandbox(config: SandboxConfig | None = None, *, host: str = "127.0.0.1",
                        port: int = 0, model: IrisModel | None = None,
                        wall: Callable[[], float] = time.time) -> SandboxServer:
    """Start a sandbox on the running event loop; ``port=0`` picks a free port.

    Training the model (and importing scikit-learn the first time, about 1.5 s) happens here,
    before the port opens; pass ``model`` to share one between sandboxes in tests. ``wall`` is
    the epoch clock everything runs on (metric periods, delays, signature skew); tests pass
    one they can move forward.
    """
    config = config or SandboxConfig()
    server = SandboxServer(config, Simulation(config, model, wall=wall), wall)
    await server.start(host, port)
    return server


class SandboxThread(SandboxHandle):
    """A sandbox on its own event loop in a daemon thread, for synchronous callers and tests.

    Same attributes as ``SandboxProcess``: ``endpoint_url``, ``region``, ``credentials``,
    ``endpoint_name``, ``variant``, ``env()``, ``stop()``; ``server`` is the live server
    (touch its simulation only through ``call``, which runs on the sandbox's loop).
    """

    def __init__(self, config: SandboxConfig | None = None, *, model: IrisModel | None = None,
                 host: str = "127.0.0.1", port: int = 0,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config or SandboxConfig()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox",
                                        daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_sandbox(self.config, host=host, port=port, model=model, wall=wall), self._loop)
        self.server: SandboxServer = future.result(timeout=120)
        self.endpoint_url = self.server.url

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the sandbox's loop (its state is not thread-safe) and return."""
        async def run() -> Any:
            return function()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> SandboxThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
