"""Profiles: the Artillery subset (the blog's script.yml verbatim) and every error path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driver.profile import ProfileError, load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[3]

# The blog's script.yml, character for character (the placeholder target included).
BLOG_SCRIPT = '''config:
  target: "<your API Gateway endpoint here>"
# target: "https://ab123c7ek5.execute-api.us-east-1.amazonaws.com"
  Ensure:
    maxErrorRate: 0
  Phases:
   -
      duration: 3600
      arrivalRate: 200
      rampTo: 600
      name: "warm up"
   -
      duration: 3600
      arrivalRate: 600
      rampTo: 800
      name: "Max load"
scenarios:
  -
    flow:
      -
        post:
          headers:
            content-type: "text/csv"
          url: "/DummyStage/DT"
          body: "5,3.5,1.3,0.3"
'''

MINIMAL = """config:
  target: http://127.0.0.1:9
  phases:
    - duration: 10
      arrivalRate: 5
scenarios:
  - flow:
      - get:
          url: /ping
"""


def errors_of(text: str, environ: dict[str, str] | None = None, **kwargs) -> list[str]:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.yml", environ=environ or {}, **kwargs)
    return [str(p) for p in info.value.problems]


def test_the_blog_script_parses_unchanged():
    profile = parse_profile(BLOG_SCRIPT, "script.yml", environ={})
    assert [(p.name, p.duration, p.rate_start, p.rate_end) for p in profile.phases] == [
        ("warm up", 3600, 200, 600), ("Max load", 3600, 600, 800)]
    assert profile.ensure == {"maxErrorRate": 0}
    assert profile.requests == 3_960_000
    # Valid, but its target is the blog's placeholder: it cannot run until set.
    assert profile.target_problem is not None
    assert profile.target_problem.line == 2
    with pytest.raises(ProfileError, match=r"script\.yml:2: config\.target"):
        profile.check_runnable()
    runnable = parse_profile(BLOG_SCRIPT, "script.yml", environ={},
                             target_override="https://example.test")
    (request,), = runnable.rendered_requests()
    assert request.method == "POST"
    assert request.url == "https://example.test/DummyStage/DT"
    assert request.headers == {"content-type": "text/csv"}
    assert request.body == b"5,3.5,1.3,0.3"


def test_the_shipped_seed_profile_is_the_blog_script():
    assert (ROOT / "profiles" / "seed-blog.yml").read_text() == BLOG_SCRIPT


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1m30s", 90),
     ("500ms", 0.5), ("1.5m", 90)],
)
def test_durations(text, seconds):
    profile = parse_profile(MINIMAL.replace("duration: 10", f"duration: {text}"), environ={})
    assert profile.phases[0].duration == pytest.approx(seconds)


def test_keys_match_case_insensitively_and_pause_and_arrival_count():
    profile = parse_profile("""
CONFIG:
  Target: http://127.0.0.1:9
  PHASES:
    - {Duration: 10, ArrivalCount: 50, Name: a}
    - {Pause: 5}
    - {duration: 10, arrivalRate: 1, RAMPTO: 3}
Scenarios:
  - Flow:
      - GET: {URL: /x}
""", environ={})
    assert [(p.duration, p.rate_start, p.rate_end, p.pause) for p in profile.phases] == [
        (10, 5, 5, False), (5, 0, 0, True), (10, 1, 3, False)]
    assert profile.requests == 50 + 20


def test_env_templates_resolve_and_become_secrets():
    profile = parse_profile("""
config:
  target: "{{ $env.BASE }}"
  phases: [{duration: 1, arrivalRate: 1}]
  defaults:
    headers:
      x-api-key: "{{ $env.API_KEY }}"
scenarios:
  - flow:
      - post:
          url: /p
          headers: {Authorization: "Bearer {{ $env.TOKEN }}"}
          json: {input: [1, 2]}
""", environ={"BASE": "http://127.0.0.1:9", "API_KEY": "k-123456", "TOKEN": "t-987654"})
    (request,), = profile.rendered_requests()
    assert request.url == "http://127.0.0.1:9/p"
    assert request.headers["x-api-key"] == "k-123456"
    assert request.headers["Authorization"] == "Bearer t-987654"
    assert request.headers["content-type"] == "application/json"
    assert request.body == b'{"input":[1,2]}'
    assert {"k-123456", "t-987654", "Bearer t-987654"} <= profile.secrets
    # The recording keeps the template, never the value.
    text = repr(profile.sanitized)
    assert "k-123456" not in text and "t-987654" not in text
    assert "{{ $env.API_KEY }}" in text


def test_literal_secret_headers_are_redacted_in_the_sanitized_profile():
    profile = parse_profile(MINIMAL.replace(
        "url: /ping", "url: /ping\n          headers: {Authorization: Basic c2VjcmV0}"),
        environ={})
    assert "c2VjcmV0" not in repr(profile.sanitized)
    assert "Basic c2VjcmV0" in profile.secrets


def test_payload_rows_feed_the_body(tmp_path):
    (tmp_path / "rows.csv").write_text("sl,sw,pl,pw\n5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    path = tmp_path / "p.yml"
    path.write_text("""
config:
  target: http://127.0.0.1:9
  phases: [{duration: 1, arrivalRate: 1}]
  payload:
    path: rows.csv
    fields: [sl, sw, pl, pw]
    skipHeader: true
    order: sequence
scenarios:
  - flow:
      - post: {url: /i, body: "{{ sl }},{{ sw }},{{ pl }},{{ pw }}"}
""")
    profile = load_profile(path, environ={})
    assert profile.payload.order == "sequence"
    (requests,) = profile.rendered_requests()
    assert [r.body for r in requests] == [b"5.1,3.5,1.4,0.2", b"6.2,2.9,4.3,1.3"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("arrivalRate: 5", "arrivalRate: fast"),
         "p.yml:5: config.phases[0].arrivalRate: expected a number, got str 'fast'"),
        (("arrivalRate: 5", "arrivalRate: -1"),
         "p.yml:5: config.phases[0].arrivalRate: must be >= 0, got -1"),
        (("duration: 10", "duration: 10 minutes"),
         "p.yml:4: config.phases[0].duration: expected seconds or a string like 90s, 10m, 2h,"
         " got '10 minutes'"),
        (("duration: 10", "duration: 0"), "p.yml:4: config.phases[0].duration: must be > 0"),
        (("duration: 10", "duration: 0s"),
         "p.yml:4: config.phases[0].duration: must be > 0, got '0s'"),
        (("scenarios:", "load: {timeout: 0ms}\nscenarios:"),
         "p.yml:6: load.timeout: must be > 0, got '0ms'"),
        (("scenarios:", "load: {maxInFlight: many}\nscenarios:"),
         "p.yml:6: load.maxInFlight: expected a number, got str 'many'"),
        (("scenarios:", "sagemaker: {endpointUrl: nope}\nscenarios:"),
         "p.yml:6: sagemaker.endpointUrl: expected an http(s) URL"),
        (("scenarios:", "scaling: {disableMode: maybe}\nscenarios:"),
         "p.yml:6: scaling.disableMode: expected one of suspend, delete, got 'maybe'"),
        (("      arrivalRate: 5\n", "      arivalRate: 5\n"),
         "p.yml:5: config.phases[0].arivalRate: unknown key; did you mean 'arrivalRate'?"),
        (("  phases:", "  phasez:"), "p.yml:3: config.phasez: unknown key; did you mean"),
        (("url: /ping", "url: /ping\n          think: 1"),
         "p.yml:10: scenarios[0].flow[0].get.think: unknown key"),
        (("target: http://127.0.0.1:9", "target: http://127.0.0.1:9\n  target: http://x"),
         "p.yml:3: yaml: duplicate key 'target'"),
        (("  phases:", "  phases: [\n"), "p.yml:"),
        (("      - get:\n          url: /ping", "      - get: {}"),
         "p.yml:8: scenarios[0].flow[0].get.url: missing"),
        (("scenarios:", "load: {workers: 0}\nscenarios:"),
         "p.yml:6: load.workers: must be >= 1, got 0"),
        (("scenarios:", "metrics: {period: 7}\nscenarios:"),
         "p.yml:6: metrics.period: CloudWatch periods are 1, 5, 10, 20, 30 s"),
        (("scenarios:", "scaling: {min: 5, max: 2}\nscenarios:"),
         "p.yml:6: scaling.min: min 5 is above max 2"),
        (("scenarios:", "wat: 1\nscenarios:"), "p.yml:6: wat: unknown key"),
        (("      arrivalRate: 5\n", "      arrivalRate: 5\n      maxVusers: 10\n"),
         "p.yml:6: config.phases[0].maxVusers: not supported"),
    ],
)
def test_errors_name_file_line_and_field(change, expected):
    old, new = change
    assert old in MINIMAL
    problems = errors_of(MINIMAL.replace(old, new, 1))
    assert any(p.startswith(expected) for p in problems), problems


def test_several_problems_are_reported_together():
    problems = errors_of(MINIMAL.replace("arrivalRate: 5", "arrivalRate: x\n      rampTo: y"))
    assert len(problems) == 2


def test_missing_env_var_names_it():
    problems = errors_of(MINIMAL.replace("url: /ping", 'url: "/{{ $env.NOPE }}"'))
    assert problems == [
        "p.yml:9: scenarios[0].flow[0].get.url: environment variable NOPE is not set "
        "(referenced as {{ $env.NOPE }})"]


def test_unknown_variables_and_templates():
    problems = errors_of(MINIMAL.replace("url: /ping", 'url: "/{{ id }}/{{ $randomNumber(1,9) }}"'))
    assert "unknown variable {{ id }} (no payload fields are defined)" in problems[0]
    assert "unsupported template {{ $randomNumber(1,9) }}" in problems[1]


def test_multi_step_flows_are_refused_with_the_reason():
    problems = errors_of(MINIMAL.replace("      - get:\n          url: /ping",
                                         "      - get: {url: /a}\n      - get: {url: /b}"))
    assert "has 2 steps; loadwatch sends one request per arrival" in problems[0]


def test_missing_payload_file(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(MINIMAL.replace("  phases:", "  payload: {path: nope.csv}\n  phases:"))
    with pytest.raises(ProfileError, match=r"p.yml:3: config.payload.path: cannot read"):
        load_profile(path, environ={})


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "empty.yml").write_text("")
    with pytest.raises(ProfileError, match=r"empty\.yml:1: profile: the file is empty"):
        load_profile(tmp_path / "empty.yml")
    with pytest.raises(ProfileError, match=r"missing\.yml: file: cannot read"):
        load_profile(tmp_path / "missing.yml")  # no line: the file itself is the problem
    with pytest.raises(ProfileError, match=r"^p\.yml: --target: expected an http"):
        parse_profile(MINIMAL, "p.yml", environ={}, target_override="nope")


def test_options_parse_through_their_field_tables():
    profile = parse_profile(MINIMAL.replace("scenarios:", """load:
  workers: 3
  arrivals: POISSON
  timeout: 2s
  maxInFlight: 64
  lateMs: 2.5
scaling: {min: 0, max: 3, scaleInCooldown: 0s, scaleOutCooldown: 1m, disableScaleIn: true}
metrics: {period: 60, pollInterval: 15s}
sagemaker: {endpoint: "{{ $env.EP }}", profile: dev}
scenarios:""").replace("  target: http://127.0.0.1:9\n", ""), "p.yml", environ={"EP": "iris"})
    assert (profile.load.workers, profile.load.arrivals, profile.load.timeout,
            profile.load.max_in_flight, profile.load.late_ms) == (3, "poisson", 2.0, 64, 2.5)
    assert profile.scaling.scale_in_cooldown == 0.0 and profile.scaling.scale_out_cooldown == 60
    assert profile.scaling.disable_scale_in is True and profile.scaling.min == 0
    assert profile.metrics.period == 60 and profile.metrics.poll_interval == 15.0
    assert profile.sagemaker.endpoint == "iris" and profile.sagemaker.aws_profile == "dev"


def test_a_new_option_is_one_table_row(monkeypatch):
    """The table drives both the parsing and the unknown-key check: one row adds an option."""
    from driver.profile import options as profile_options
    from driver.profile.reader import Field

    text = MINIMAL.replace("scenarios:", "load: {slowMs: 7}\nscenarios:")
    assert errors_of(text) == ["p.yml:6: load.slowMs: unknown key; known keys: arrivals, "
                               "connections, lateMs, maxInFlight, mode, timeout, workers"]
    monkeypatch.setattr(profile_options, "LOAD_FIELDS",
                        (*profile_options.LOAD_FIELDS, Field("slowMs", "late_ms", "number", 1)))
    assert parse_profile(text, "p.yml", environ={}).load.late_ms == 7.0
    assert errors_of(text.replace("slowMs: 7", "slowMs: 0")) == [
        "p.yml:6: load.slowMs: must be >= 1, got 0"]
    assert errors_of(text.replace("slowMs", "slowM")) == [
        "p.yml:6: load.slowM: unknown key; did you mean 'slowMs'?"]


def test_a_tiny_phase_plans_what_it_sends():
    """A 0.001 s phase at 1 req/s is due 0.001 requests; the pacer sends its first at 0."""
    from driver.profile import describe_plan
    from driver.schedule import Pacer, RateFunction

    profile = parse_profile(MINIMAL.replace("duration: 10", "duration: 0.001").replace(
        "arrivalRate: 5", "arrivalRate: 1"), "p.yml", environ={})
    pacer = Pacer(RateFunction.from_phases(profile.phases))
    sent = 0
    while pacer.peek() is not None:
        pacer.take()
        sent += 1
    assert sent == 1
    assert profile.requests == 1
    assert [row["requests"] for row in describe_plan(profile)] == [1]


def loadwatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd or ROOT)


def test_validate_prints_the_plan():
    result = loadwatch("validate", "profiles/seed-blog.yml")
    assert result.returncode == 0, result.stderr
    assert "warm up" in result.stdout and "200 → 600" in result.stdout
    assert "3960000 requests" in result.stdout
    assert "warning: profiles/seed-blog.yml:2: config.target" in result.stdout


def test_validate_a_broken_profile_exits_2_with_file_and_line(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(MINIMAL.replace("arrivalRate: 5", "arrivalRate: lots"))
    result = loadwatch("validate", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"{path}:5: config.phases[0].arrivalRate: expected a "
                                     "number, got str 'lots'")
    assert result.stdout == ""


def test_ensure_client_limited_is_true_or_false():
    text = MINIMAL.replace("  phases:", "  ensure: {clientLimited: false}\n  phases:", 1)
    assert parse_profile(text, "p.yml", environ={}).ensure == {"clientLimited": 0.0}
    allowed = MINIMAL.replace("  phases:", "  ensure: {clientLimited: true}\n  phases:", 1)
    assert parse_profile(allowed, "p.yml", environ={}).ensure == {}
    assert errors_of(MINIMAL.replace("  phases:", "  ensure: {clientLimited: 5}\n  phases:",
                                     1)) == [
        "p.yml:3: config.ensure.clientLimited: expected true or false (false: fail a run the "
        "load generator limited)"]
