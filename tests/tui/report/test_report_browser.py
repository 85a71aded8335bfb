"""The HTML report in a real browser: headless Chromium, network off, at laptop width.

Two looks at the same file. A copy with a probe script appended is loaded with ``--dump-dom``:
the probe measures what the browser laid out (each chart's box, each line's rendered length and
bounds) and writes it into the DOM. The report itself (no script, strict CSP) is loaded with
``--screenshot``: the chart boxes the probe found must hold pixels of the series' colours.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tui.report.helpers import FIXTURES
from tui.commands.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package "
                       "(apt-get install chromium) to render the report"),
    pytest.mark.xdist_group("browser"),  # one worker: each rendering fixture runs once
]
WIDTH = 1280

PROBE = """<script>
const out = {scrollWidth: document.documentElement.scrollWidth,
             height: document.documentElement.scrollHeight, charts: []};
for (const fig of document.querySelectorAll("figure[data-chart]")) {
  const svg = fig.querySelector("svg.chart");
  const r = svg.getBoundingClientRect();
  out.charts.push({key: fig.dataset.chart, section: fig.closest("section").id,
    rect: {x: r.x + scrollX, y: r.y + scrollY, w: r.width, h: r.height},
    legend: fig.querySelectorAll("ul.legend li").length,
    marks: svg.querySelectorAll("g.mark").length,
    lines: [...svg.querySelectorAll("path.series")].map(p => {
      const b = p.getBBox();
      return {name: p.dataset.series, stroke: getComputedStyle(p).stroke,
              length: p.getTotalLength(), x: b.x, y: b.y, w: b.width, h: b.height};
    })});
}
out.phaseTables = [...document.querySelectorAll("table.phases")].map(t => {
  const box = t.closest(".scroll");
  return {scroll: box.scrollWidth, client: box.clientWidth};
});
const pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def _chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",  # type: ignore[list-item]
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={user_data}", "--hide-scrollbars",
         "--force-device-scale-factor=1", *args],
        capture_output=True, text=True, timeout=120, check=False)


def _render(tmp: Path, recordings: list[Path]) -> dict:  # type: ignore[type-arg]
    """Write the report, lay out a probe copy, screenshot the report itself."""
    report = tmp / "report.html"
    assert main(["report", *map(str, recordings), "-o", str(report)]) == 0
    html = report.read_text(encoding="utf-8")
    # The probe copy lets its one inline script run; the report itself allows none.
    probe_html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = tmp / "probe.html"
    probe.write_text(probe_html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", f"--window-size={WIDTH},900", probe.as_uri(),
                    user_data=tmp / "profile-dom")
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.DOTALL)
    assert match, f"probe missing from the rendered DOM; chromium said: {dom.stderr[-500:]}"
    layout = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    shot = tmp / "report.png"
    _chromium(f"--screenshot={shot}", f"--window-size={WIDTH},{layout['height']}",
              report.as_uri(), user_data=tmp / "profile-shot")
    assert shot.exists(), "chromium wrote no screenshot"
    return {"layout": layout, "screenshot": shot, "dom": dom.stdout}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:  # type: ignore[type-arg]
    """Two HTTP runs compared: one saturated, one not."""
    return _render(tmp_path_factory.mktemp("compared"),
                   [FIXTURES / "http-1x.jsonl", FIXTURES / "http-4x.jsonl"])


@pytest.fixture(scope="module")
def rendered_cut(tmp_path_factory) -> dict:  # type: ignore[type-arg]
    """One sandbox run with scaling on, cut short mid-line."""
    return _render(tmp_path_factory.mktemp("cut"), [FIXTURES / "sandbox-after-truncated.jsonl"])


def test_every_chart_is_laid_out_at_laptop_width_without_horizontal_scroll(rendered) -> None:
    layout = rendered["layout"]
    assert layout["scrollWidth"] <= WIDTH
    keys = [(c["section"], c["key"]) for c in layout["charts"]]
    for key in ("load", "latency", "errors"):
        assert ("comparison", key) in keys and ("run-1", key) in keys and ("run-2", key) in keys
    for chart in layout["charts"]:
        rect = chart["rect"]
        assert 450 <= rect["w"] <= WIDTH and rect["h"] > 180, chart["key"]
        assert chart["legend"] >= 1


def test_series_are_drawn_with_real_coordinates_inside_their_plot(rendered) -> None:
    charts = {(c["section"], c["key"]): c for c in rendered["layout"]["charts"]}
    latency = charts[("comparison", "latency")]
    names = {line["name"] for line in latency["lines"]}
    assert {"http-1x client p99 (ok)", "http-4x client p99 (ok)"} <= names
    for chart in charts.values():
        for line in chart["lines"]:
            # In SVG user units (viewBox 720 × 300): inside the plot area, and drawn.
            assert line["length"] > 0, (chart["key"], line["name"])
            assert line["x"] >= 60 and line["x"] + line["w"] <= 705, (chart["key"], line)
            assert line["y"] >= 24 and line["y"] + line["h"] <= 260, (chart["key"], line)
    # The saturated run's p99 climbs; the other stays low: the lines are not flat copies.
    p99 = {line["name"]: line for line in latency["lines"]}
    assert p99["http-1x client p99 (ok)"]["h"] > 5 * max(
        p99["http-4x client p99 (ok)"]["h"], 1)


def _count_colour(image, box: tuple[int, int, int, int], rgb: tuple[int, int, int]) -> int:  # type: ignore[no-untyped-def]
    region = image.crop(box).convert("RGB")
    colours = region.getcolors(maxcolors=region.width * region.height) or []
    return sum(n for n, pixel in colours
               if all(abs(a - b) <= 40 for a, b in zip(pixel, rgb, strict=True)))


def test_chart_regions_of_the_screenshot_hold_the_series_colours(rendered) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="needs Pillow to read the PNG")
    image = image_module.open(rendered["screenshot"])
    assert image.width == WIDTH
    blue, orange = (0, 114, 178), (213, 94, 0)
    for chart in rendered["layout"]["charts"]:
        if chart["section"] != "comparison":
            continue
        r = chart["rect"]
        box = (int(r["x"]), int(r["y"]), int(r["x"] + r["w"]), int(r["y"] + r["h"]))
        assert box[3] <= image.height
        # Where both runs sent the same rate, B's line covers the middle of A's wider one and
        # only A's edges show: fewer blue pixels, but still far more than none.
        assert _count_colour(image, box, blue) > 60, chart["key"]
        assert _count_colour(image, box, orange) > 150, chart["key"]
    # A control: the page's top margin holds no series colour at all.
    assert _count_colour(image, (0, 0, WIDTH, 20), blue) == 0


def test_the_per_phase_table_fits_a_laptop_window_without_scrolling_sideways(rendered_cut):
    """Issue 24: at 1280 px its 19 columns scrolled sideways (a sandbox run has them all)."""
    tables = rendered_cut["layout"]["phaseTables"]
    assert tables, "no per-phase table in the report"
    for box in tables:
        assert box["scroll"] <= box["client"], box


def test_a_cut_sandbox_run_renders_its_server_series_and_says_it_was_cut(rendered_cut) -> None:
    layout = rendered_cut["layout"]
    assert layout["scrollWidth"] <= WIDTH
    charts = {c["key"]: c for c in layout["charts"]}
    assert {"load", "latency", "instances", "errors", "per-instance", "utilisation"} <= set(
        charts)
    lines = {line["name"]: line for line in charts["latency"]["lines"]}
    assert lines["server ModelLatency average"]["length"] > 0
    instances = {line["name"]: line for line in charts["instances"]["lines"]}
    assert instances["current"]["length"] > 0
    assert charts["instances"]["marks"] >= 1  # the scale-out activity, marked on the axis
    assert "Read with care" in rendered_cut["dom"] and "truncated" in rendered_cut["dom"]
    assert "Recomputed from the recorded seconds" in rendered_cut["dom"]


@pytest.fixture(scope="module")
def rendered_llm(tmp_path_factory) -> dict:  # type: ignore[type-arg]
    """One streaming run against the sandbox's LLM instance, past what it holds."""
    return _render(tmp_path_factory.mktemp("llm"), [FIXTURES / "sandbox-llm-heavy.jsonl"])


def test_a_streaming_run_draws_its_llm_charts_at_laptop_width(rendered_llm) -> None:
    layout = rendered_llm["layout"]
    assert layout["scrollWidth"] <= WIDTH  # the wider LLM table scrolls inside its box
    charts = {c["key"]: c for c in layout["charts"]}
    lines = {line["name"]: line for line in charts["llm-latency"]["lines"]}
    for name in ("TTFT p50 (intended send)", "TTFT p99 (intended send)", "TPOT p50"):
        assert lines[name]["length"] > 100, name
    tokens = charts["llm-tokens"]["lines"][0]
    assert tokens["name"] == "output tokens/s" and tokens["h"] > 50  # it climbs with the load
    load = {line["name"] for line in charts["load"]["lines"]}
    assert "goodput (met the LLM SLOs)" in load
    # The LLM charts sit right after the latency chart.
    order = [c["key"] for c in layout["charts"]]
    assert order[:4] == ["load", "latency", "llm-latency", "llm-tokens"]
