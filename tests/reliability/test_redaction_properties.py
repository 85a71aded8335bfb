"""Property tests of redaction: secrets of every shape, including digits and common words.

A secret goes where secrets go in real runs: a header value in the profile, an error message
quoting a URL with the secret in its query string (plain and URL-encoded), event data, the
header's free-form meta. Then: every line of the recording is valid JSON with the keys and
numbers it had; no string value holds the secret; and the report, the CSV export, the Markdown
comparison and the terminal's status lines show `<redacted>` where the secret was.
"""

from __future__ import annotations

import html
import io
import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.profile import parse_profile
from driver.session import Session
from metrics.recording import RecordingWriter, read_recording
from metrics.records import Event, Footer, Header, to_dict
from metrics.redact import REDACTED, Redactor, is_secret_name
from tests.reliability.counts import counted
from tui.commands.cli import main
from tui.console import HeadlessPrinter

# The property tests share one worker, so that LOADWATCH_CASE_COUNTS gets all their counts
# from one process (tests/reliability/counts.py).
pytestmark = pytest.mark.xdist_group("case-counts")

COMMON = ["type", "header", "tick", "event", "footer", "true", "null", "false", "data", "name",
          "phase", "completed", "message", "elapsed", "target", "ok", "http", "200", "1795",
          "0.0", "1.5", "redacted", "<redacted>", "edac", "AAAA", "HISTFAAAA"]
secrets = st.one_of(
    st.sampled_from(COMMON),
    st.integers(0, 10**15).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "-_./+=~:", min_size=4,
            max_size=40),
).filter(lambda s: len(s) >= 4)
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def carriers(secret: str) -> list[str]:
    """How the secret appears in the text a run produces."""
    plain = [f"[{secret}]", f"token={quote_plus(secret)}'", f"token={quote(secret, safe='')}'"]
    return plain + [html.escape(c) for c in plain]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def numbers_in(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


def records_with(secret: str, recording: Path) -> list:  # type: ignore[type-arg]
    number = int(secret) if secret.isdigit() else 1795
    header = Header(format=1, tool_version="test", started_at="2026-11-29T00:00:00+00:00",
                    t=1795638652.25, target=f"http://127.0.0.1:8080/?key={secret}",
                    profile={"headers": {"x-api-key": secret}, secret: number},
                    meta={"note": f"[{secret}]", "count": number})
    message = (f"ClientResponseError: 400, message='Bad status line', "
               f"url='http://127.0.0.1:8080/x?token={quote_plus(secret)}' [{secret}] "
               f"url='http://127.0.0.1:8080/x?token={quote(secret, safe='')}'")
    events = [Event(1795638653.5, 1.0, "target", "error", message,
                    {"header": secret, "nested": [secret, number], "count": number}),
              Event(1795638654.5, 2.0, "schedule", "phase_started", f"phase [{secret}]",
                    {"phase": secret})]
    footer = Footer(1795638660.0, 8.0, "completed", {"total": {"requests": number}})
    return [header, *events, footer]


@SETTINGS
@given(secret=secrets)
def test_the_recording_stays_json_and_holds_no_secret(secret, tmp_path):
    counted("redaction: recording")
    path = tmp_path / "run.jsonl"
    header, *rest = records_with(secret, path)
    with RecordingWriter(path, header, [secret]) as writer:
        for record in rest[:-1]:
            writer.write(record)
        writer.close(rest[-1])
    originals = [to_dict(r) for r in [header, *rest]]
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == len(originals)
    for line, original in zip(lines, originals, strict=True):
        data = json.loads(line)  # valid JSON, whatever the secret
        assert set(data) == set(original)  # no key lost or renamed
        assert numbers_in(data) == numbers_in(original)  # no number touched
        # `type` is the format's own vocabulary (header, tick, ...), written after redaction.
        for text in strings_in({k: v for k, v in data.items() if k != "type"}):
            assert secret not in text and quote_plus(secret) not in text, (secret, text)
    recording = read_recording(path)
    assert recording.warnings == [] and recording.complete
    assert recording.records[0].message.count(REDACTED if secret not in REDACTED
                                              else "[hidden]") >= 3


@settings(SETTINGS, max_examples=12)
@given(secret=secrets)
def test_report_csv_and_markdown_show_no_secret(secret, tmp_path, capsys):
    counted("redaction: report, CSV, Markdown")
    path = tmp_path / "run.jsonl"
    header, *rest = records_with(secret, path)
    with RecordingWriter(path, header, [secret]) as writer:
        for record in rest[:-1]:
            writer.write(record)
        writer.close(rest[-1])
    assert main(["export", "--csv", "-o", str(tmp_path / "csv"), str(path)]) == 0
    assert main(["report", str(path), "-o", str(tmp_path / "report.html")]) == 0
    assert main(["compare", "--markdown", str(path), str(path)]) == 0
    outputs = [capsys.readouterr().out, (tmp_path / "report.html").read_text()]
    outputs += [p.read_text() for p in (tmp_path / "csv").iterdir()]
    for text in outputs:
        for carrier in carriers(secret):
            assert carrier not in text, (secret, carrier)


@SETTINGS
@given(secret=secrets, header_name=st.sampled_from(
    ["x-api-key", "Authorization", "x-custom-token", "Ocp-Apim-Subscription-Key",
     "X-Session-Id", "x-signature", "Cookie", "api_key", "X-Client-Secret"]))
def test_the_terminal_shows_no_secret(secret, header_name):
    counted("redaction: terminal")
    assert is_secret_name(header_name)
    profile = parse_profile(
        "config:\n  target: http://127.0.0.1:9\n  phases:\n    - {duration: 1, arrivalRate: 1}\n"
        "scenarios:\n  - flow:\n      - get:\n          url: /x\n"
        f"          headers: {{{header_name}: \"{{{{ $env.KEY }}}}\", x-literal-token: lit3r4l}}\n"
        "          qs: {token: \"{{ $env.KEY }}\"}\n",
        environ={"KEY": secret})
    assert Redactor(profile.secrets) or len(secret) < 4
    session = Session(profile)
    out = io.StringIO()
    session.subscribe(HeadlessPrinter(out=out))
    url = profile.rendered_requests()[0][0].url
    session.event("target", "error", f"ClientResponseError: 400, url='{url}' [{secret}]")
    session.event("target", "error", "header echoed: lit3r4l")
    text = out.getvalue()
    assert text.count("\n") == 2
    assert f"[{secret}]" not in text and "lit3r4l" not in text
    assert f"token={quote_plus(secret)}'" not in text
    assert "x-literal-token" in json.dumps(profile.sanitized)
    assert "lit3r4l" not in json.dumps(profile.sanitized)


@settings(SETTINGS, max_examples=200)
@given(text=st.text(max_size=60), secret_list=st.lists(secrets, max_size=4))
def test_redacted_text_never_holds_a_secret(text, secret_list):
    counted("redaction: any text")
    redactor = Redactor(secret_list)
    planted = text + "".join(secret_list) + text
    clean = redactor.text(planted)
    for secret in secret_list:
        assert secret not in clean
