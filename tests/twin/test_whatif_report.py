"""what-if --report: the demand, each policy's instances and p99 on one time axis, in HTML."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from tests.twin.test_whatif import _cli
from tui.commands.whatif import _report
from tui.report.whatif_report import whatif_charts
from twin.model import Twin, save_twin
from twin.virtual import traffic_from_profile
from twin.whatif import GridSpec, Objective, candidates, rank

ROOT = Path(__file__).resolve().parents[2]
AFTER = ROOT / "profiles" / "sandbox-after.yml"
TWIN = Twin.from_sandbox(SandboxConfig(), overhead_ms=1.0)


def test_the_charts_hold_each_policys_own_run() -> None:
    from driver.profile import load_profile

    traffic = traffic_from_profile(load_profile(AFTER))
    # max 1 cannot scale; the two cooldowns of max 3 behave alike at target 30000.
    policies = candidates(GridSpec(target="15000,30000", max_capacity="1,3",
                                   scale_out_cooldown="30,120", scale_in_cooldown="60"))
    objective = Objective(500, 0.05, 0.01)
    ranked = rank(TWIN, traffic, policies, objective, jobs=1)
    args = argparse.Namespace(traffic=AFTER, twin=Path("twin.yml"), seed=0, top=20)
    report = _report(TWIN, args, traffic, ranked, objective, 1.0)
    demand, instances, p99 = whatif_charts(report)
    assert sum(demand.lines[0].ys) == traffic.requests  # one point a second: every request
    assert demand.x_end == instances.x_end == p99.x_end == traffic.seconds
    by_label = {f.policy.label: f for f in ranked}
    assert report.traces[0].mark == "*"
    for line, trace in zip(instances.lines, report.traces, strict=True):
        figures = by_label[trace.label.split(" (+")[0]]
        assert max(line.ys) == figures.max_instances
    # Four policies at max 1 never scale and turn the same requests away: one line, +3 alike.
    flat = [t for t in report.traces if max(t.serving) == 1]
    assert len(flat) == 1 and flat[0].label.endswith("(+3 alike)")
    assert len(report.traces) < len(ranked)
    assert p99.guides[0].y == 500


def test_the_command_writes_a_self_contained_report(tmp_path: Path, capsys) -> None:
    twin = tmp_path / "twin.yml"
    save_twin(TWIN, twin)
    html_path = tmp_path / "out" / "whatif.html"
    code, out, _ = _cli(capsys, "what-if", str(AFTER), "--twin", str(twin), "--jobs", "1",
                        "--target", "15000,30000", "--max", "1,3",
                        "--scale-out-cooldown", "30", "--report", str(html_path))
    assert code == 0 and f"report: {html_path}" in out
    html = html_path.read_text()
    assert re.findall(r'data-chart="([^"]+)"', html) == [
        "whatif-demand", "whatif-instances", "whatif-p99"]
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "cheapest policy meeting the SLO: IPI 15000/inst/min" in html
    # The three charts share one time axis: the same last tick (the traffic's 6 minutes).
    for figure in html.split("<figure")[1:]:
        assert re.findall(r'text-anchor="middle">(\d+:\d\d)</text>', figure)[-1] == "6:00"

    code, _, err = _cli(capsys, "what-if", str(AFTER), "--twin", str(twin),
                        "--report", str(twin))
    assert code == 2
    assert err.strip().splitlines() == [
        f"loadwatch what-if: --report: {twin} is an input; choose another file"]


WIDE_PROBE = """<script>
const out = {scrollWidth: document.documentElement.scrollWidth, charts: []};
for (const fig of document.querySelectorAll("figure[data-chart]")) {
  const r = fig.querySelector("svg.chart").getBoundingClientRect();
  out.charts.push({key: fig.dataset.chart, x: r.x, w: r.width,
                   lines: fig.querySelectorAll("path.series").length});
}
const pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def test_at_laptop_width_the_charts_share_one_time_axis(tmp_path: Path, capsys) -> None:
    """Headless Chromium at 1280 px: no sideways scroll, and the three charts stacked with the
    same left edge and width, so a second is at the same place in each."""
    import json

    from tests.tui.report.test_report_browser import CHROMIUM, _chromium

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium package to render the report")
    twin = tmp_path / "twin.yml"
    save_twin(TWIN, twin)
    html_path = tmp_path / "whatif.html"
    code, _, _ = _cli(capsys, "what-if", str(AFTER), "--twin", str(twin), "--jobs", "1",
                      "--target", "9000:21000:3000", "--max", "3,4",
                      "--scale-out-cooldown", "30,120", "--report", str(html_path))
    assert code == 0
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                  html_path.read_text())
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", WIDE_PROBE + "</body>"))
    dom = _chromium("--dump-dom", "--window-size=1280,900", probe.as_uri(),
                    user_data=tmp_path / "chromium")
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.DOTALL)
    assert match, dom.stderr[-500:]
    layout = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert layout["scrollWidth"] <= 1280
    charts = layout["charts"]
    assert [c["key"] for c in charts] == ["whatif-demand", "whatif-instances", "whatif-p99"]
    assert len({(round(c["x"]), round(c["w"])) for c in charts}) == 1
    assert charts[0]["w"] > 800  # one column, not side by side
    assert charts[1]["lines"] >= 3 and charts[2]["lines"] >= 3  # policies that differ
