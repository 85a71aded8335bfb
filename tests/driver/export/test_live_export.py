"""One sandbox run exported three ways, checked as a user would: a real Prometheus server
(Debian's) scrapes its --prometheus endpoint and its query API returns the loadwatch_ series;
an OTLP/HTTP receiver decodes what --otlp pushed with the official OpenTelemetry protobufs;
and its --summary-json reads back with the schema.

The run is started once for the module (a sandbox child, Prometheus, the receiver, then
``loadwatch run`` as a subprocess); each test reads what it left.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from driver.export import METRICS, SUMMARY_SCHEMA, SUMMARY_VERSION
from driver.export.names import markdown_table
from sandbox.config import SandboxConfig, Timings, profile_named
from sandbox.process import SandboxProcess
from tui.commands import cli

ROOT = Path(__file__).resolve().parents[3]
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=2,
                deprovisioning_delay_s=1, default_cooldown_s=1)
PROFILE = """
config:
  phases:
    - {name: warm, duration: 2, arrivalRate: 20}
    - {name: hold, duration: 3, arrivalRate: 40}
  ensure: {maxErrorRate: 50, p99: 2000, clientLimited: false}
sagemaker: {endpoint: loadwatch-sandbox}
metrics: {period: 1, pollInterval: 1, endpointInterval: 1}
scenarios:
  - flow:
      - post: {body: "5,3.5,1.3,0.3", headers: {content-type: text/csv}}
"""


# Series with no sample until a request fails (a clean run has none).
NEED_FAILURES = {"loadwatch_errors_total", "loadwatch_failed_latency_seconds"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@dataclass
class Receiver:
    """OTLP/HTTP metrics receiver: every request body decoded with the official protobufs."""

    port: int = 0
    requests: list[ExportMetricsServiceRequest] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        self.requests.append(message)
        self.content_types.add(request.content_type)
        return web.Response(body=b"", content_type="application/x-protobuf")

    def points(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for message in self.requests:
            for resource in message.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        out.setdefault(metric.name, []).extend(getattr(metric, kind).data_points)
        return out


def _serve_receiver(receiver: Receiver) -> tuple[threading.Thread, asyncio.AbstractEventLoop,
                                                  web.AppRunner]:
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/metrics", receiver.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return thread, loop, runner


@dataclass
class ExportedRun:
    returncode: int
    stdout: str
    stderr: str
    summary: dict
    prometheus_api: str
    receiver: Receiver


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportedRun]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's prometheus)")
    root = tmp_path_factory.mktemp("export")
    metrics_port, api_port = _free_port(), _free_port()
    (root / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: loadwatch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n")
    prometheus = subprocess.Popen(
        [binary, f"--config.file={root / 'prometheus.yml'}",
         f"--storage.tsdb.path={root / 'tsdb'}", f"--web.listen-address=127.0.0.1:{api_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    receiver = Receiver()
    thread, loop, runner = _serve_receiver(receiver)
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # ready: its readiness endpoint answers
            try:
                urllib.request.urlopen(f"{api}/-/ready", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or prometheus.poll() is not None:
                    pytest.fail("prometheus did not start")
                time.sleep(0.1)
        profile = root / "p.yml"
        profile.write_text(PROFILE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with SandboxProcess(SandboxConfig(timings=QUICK, profile=profile_named("small"))) as box:
            env.update(box.env())
            result = subprocess.run(
                [sys.executable, "-m", "tui", "run", str(profile), "--headless", "--interval",
                 "60", "--record", str(root / "r.jsonl"), "--summary-json",
                 str(root / "summary.json"), "--prometheus", f"127.0.0.1:{metrics_port}",
                 "--otlp", f"http://127.0.0.1:{receiver.port}/v1/metrics"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
        summary = json.loads((root / "summary.json").read_text()) \
            if (root / "summary.json").exists() else {}
        yield ExportedRun(result.returncode, result.stdout, result.stderr, summary, api,
                          receiver)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=10)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def test_the_summary_of_a_sandbox_run_reads_back_with_the_schema(exported: ExportedRun) -> None:
    assert exported.returncode == 0, (exported.stderr, exported.summary.get("client"))
    summary = exported.summary
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert summary["version"] == SUMMARY_VERSION and summary["command"] == "run"
    assert summary["exit_code"] == 0 and summary["reason"] == "completed"
    assert [p["name"] for p in summary["phases"]] == ["warm", "hold"]
    assert summary["total"]["requests"] == sum(p["requests"] for p in summary["phases"]) > 0
    assert {c["name"] for c in summary["ensure"]} == {"maxErrorRate", "p99", "clientLimited"}
    assert summary["ensure_passed"] is True
    assert summary["client"]["limited"] is False  # a light run: the client kept up
    cost = summary["cost"]
    assert cost["usd"] > 0 and cost["usd_per_million_ok"] > 0
    assert all(row["source"] and row["date"] for row in cost["prices"].values())
    assert "cost: $" in exported.stdout


def _query(api: str, expr: str) -> list[dict]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = _get_json(url)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scraped_the_run_and_answers_with_loadwatch_series(
        exported: ExportedRun) -> None:
    assert exported.returncode == 0, exported.stderr
    names = _get_json(f"{exported.prometheus_api}/api/v1/label/__name__/values")["data"]
    ours = {n for n in names if n.startswith("loadwatch_")}
    expected = {m.name for m in METRICS if not m.llm} - NEED_FAILURES
    assert expected <= ours, expected - ours
    # The last value scraped (within the default 5 minute lookback) of the run's counters.
    [sent] = _query(exported.prometheus_api, "max_over_time(loadwatch_requests_sent_total[5m])")
    assert 0 < float(sent["value"][1]) <= exported.summary["total"]["requests"]
    ok = _query(exported.prometheus_api,
                'max_over_time(loadwatch_requests_total{outcome="ok"}[5m])')
    assert ok and float(ok[0]["value"][1]) > 0
    quantiles = {r["metric"]["quantile"] for r in _query(
        exported.prometheus_api, "last_over_time(loadwatch_latency_seconds[5m])")}
    assert quantiles == {"0.5", "0.95", "0.99"}
    [instances] = _query(exported.prometheus_api, "last_over_time(loadwatch_instances[5m])")
    assert float(instances["value"][1]) >= 1


def test_otlp_pushed_the_same_figures(exported: ExportedRun) -> None:
    assert exported.returncode == 0, exported.stderr
    receiver = exported.receiver
    assert receiver.requests and receiver.content_types == {"application/x-protobuf"}
    points = receiver.points()
    assert {m.base for m in METRICS if not m.llm} - {n.removesuffix("_total")
                                                     for n in NEED_FAILURES} <= set(points)
    sent = max(p.as_int or p.as_double for p in points["loadwatch_requests_sent"])
    # The footer flushes the last figures: every request sent is in the last push.
    assert sent == exported.summary["total"]["requests"]
    quantiles = {kv.value.string_value for p in points["loadwatch_latency_seconds"]
                 for kv in p.attributes if kv.key == "quantile"}
    assert quantiles == {"0.5", "0.95", "0.99"}


def test_a_taken_port_is_refused_before_any_load(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["run", "--headless", "--no-record", "--prometheus",
                         f"127.0.0.1:{port}"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines() == [
        f"loadwatch: --prometheus 127.0.0.1:{port}: cannot listen there (Address already in "
        "use)"]
    assert out == ""  # no sandbox started, nothing sent


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--prometheus", "localhost", "--prometheus localhost: expected ADDR:PORT, e.g. "
     "127.0.0.1:9464"),
    ("--prometheus", "example.com:9464", "--prometheus example.com:9464: 'example.com' is not "
     "an IP address"),
    ("--otlp", "127.0.0.1:4318", "--otlp 127.0.0.1:4318: expected an http(s) URL, e.g. "
     "http://127.0.0.1:4318/v1/metrics"),
])
def test_bad_export_options_are_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], option: str, value: str, said: str) -> None:
    assert cli.main(["run", "--headless", "--no-record", option, value]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [f"loadwatch: {said}"]


def test_the_metric_table_in_the_docs_is_the_one_exported() -> None:
    assert markdown_table() in (ROOT / "docs" / "export.md").read_text()
