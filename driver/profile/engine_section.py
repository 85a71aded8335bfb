"""The ``engine:`` section: the serving engine's Prometheus endpoint and what to record of it.

```yaml
engine:
  url: http://127.0.0.1:8000/metrics   # required (``--engine-metrics URL`` gives it too)
  engine: vllm          # vllm | tgi | sglang | triton; left out: told from the series names
  series: [vllm:num_preemptions, 'nv_trt_llm_request_metrics{request_type="context"}']
  interval: 5s          # between scrapes
  timeout: 2s           # one scrape; a slower answer is a failed scrape, the run goes on
```
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from driver.profile.model import EngineOptions
from driver.profile.reader import Context, Field, kind_of, line_of, read_fields
from metrics.engine import ENGINES, Selector

ENGINE_FIELDS = (
    Field("url", "url", "env_string"),
    Field("engine", "engine", "choice", choices=tuple(ENGINES)),
    Field("series", "series", "any"),  # a list of series names: checked by _series
    Field("interval", "interval", "duration"),
    Field("timeout", "timeout", "duration"),
)


def engine_options(ctx: Context, top: dict[str, tuple[Any, int]]) -> EngineOptions | None:
    if "engine" not in top:
        return None
    value, line = top["engine"]
    values, keys = read_fields(ctx, value if value is not None else {}, "engine", line,
                               ENGINE_FIELDS)
    url = values.get("url")
    if url is None:
        if "url" not in keys:
            ctx.error(line, "engine.url", "missing: the engine's Prometheus endpoint, "
                                          "e.g. http://127.0.0.1:8000/metrics")
        return None
    if not check_url(url):
        ctx.error(keys["url"][1], "engine.url", f"expected an http(s) URL, got {url!r}")
        return None
    if "series" in values:
        series = _series(ctx, values["series"], keys["series"][1])
        if series is None:
            return None
        values["series"] = series
    return EngineOptions(**values)


def check_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _series(ctx: Context, value: Any, line: int) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        ctx.error(line, "engine.series", f"expected a list of series names, got {kind_of(value)}")
        return None
    names = []
    for i, item in enumerate(value):
        where, at = f"engine.series[{i}]", line_of(value, i, line)
        if not isinstance(item, str):
            ctx.error(at, where, f"expected a series name, got {kind_of(item)}")
            continue
        try:
            names.append(str(Selector.parse(item)))
        except ValueError as exc:
            ctx.error(at, where, str(exc))
    return tuple(names)
