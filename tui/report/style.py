"""The report's one stylesheet, inlined into the document (nothing is fetched)."""

CSS = """
:root { --ink: #1d2330; --muted: #5b6472; --line: #d9dde3; --soft: #f4f6f8; --ok: #08754f;
  --bad: #b3261e; --warn-bg: #fff4d6; --warn-line: #e0b23c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.75rem; margin: 0 0 4px; }
h2 { font-size: 1.3rem; margin: 40px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--ink); }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
h4 { font-size: 1rem; margin: 0 0 2px; }
p, li { max-width: 95ch; }
.sub, .note { color: var(--muted); }
.note { font-size: 0.88rem; margin: 4px 0; }
.warnings { background: var(--warn-bg); border-left: 4px solid var(--warn-line);
  padding: 10px 14px; margin: 16px 0; }
.warnings ul { margin: 4px 0 0; padding-left: 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr));
  gap: 12px; margin: 18px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .k { color: var(--muted); font-size: 0.85rem; }
.card .v { font-size: 1.25rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .v small { font-weight: 400; color: var(--muted); font-size: 0.85rem; }
.scroll { overflow-x: auto; margin: 8px 0 12px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.9rem; }
th, td { padding: 4px 5px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { background: var(--soft); font-weight: 600; white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child, th.text { text-align: left; }
td.text { text-align: left; white-space: normal; min-width: 12em; }
table.comparison th:first-child, table.comparison td:first-child { position: sticky; left: 0;
  z-index: 1; background: #fff; box-shadow: inset -1px 0 0 var(--line); }
table.comparison th:first-child { background: var(--soft); }
th.group { text-align: center; border-left: 2px solid #fff; }
td.first, th.first { border-left: 2px solid var(--line); }
td.long { white-space: normal; min-width: 8em; }
table.phases { font-size: 0.84rem; }
table.phases th, table.phases td { padding: 4px 3px; }
table.phases td.text { min-width: 6em; }
tr.total td { font-weight: 600; border-top: 2px solid var(--ink); }
.better { color: var(--ok); font-weight: 600; }
.worse { color: var(--bad); font-weight: 600; }
.ok { color: var(--ok); font-weight: 600; }
.failed { color: var(--bad); font-weight: 600; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 8px 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
  gap: 18px 26px; }
.charts.stacked { grid-template-columns: minmax(0, 1fr); max-width: 1100px; }
pre { background: var(--soft); padding: 10px 14px; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 0; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 2px; }
svg.chart { width: 100%; height: auto; display: block; overflow: visible; }
svg.chart text { font: 11.5px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  fill: #3b4350; }
svg.chart .axis-label { font-size: 12px; fill: var(--muted); }
svg.chart .band { fill: #eef1f5; }
svg.chart .band-edge { stroke: #c5ccd6; stroke-width: 1; }
svg.chart .band-label { font-size: 11px; fill: var(--muted); }
svg.chart .grid { stroke: #e6e9ee; stroke-width: 1; }
svg.chart .tick-mark { stroke: #8a93a0; }
svg.chart .frame { fill: none; stroke: #8a93a0; stroke-width: 1; }
svg.chart .series { fill: none; stroke-linejoin: round; stroke-linecap: round; }
svg.chart .series.thin { stroke-width: 1; opacity: 0.55; }
svg.chart .guide { stroke-dasharray: 8 4; stroke-width: 1.2; }
svg.chart .guide-label { font-size: 11px; fill: #555; }
svg.chart .mark line { stroke-dasharray: 3 3; stroke-width: 1.3; opacity: 0.85; }
ul.legend { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 2px 16px; font-size: 0.85rem; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.run { margin-top: 12px; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.85rem; }
@media (max-width: 700px) { main { padding: 16px 12px 40px; }
  .charts { grid-template-columns: 1fr; } }
"""
