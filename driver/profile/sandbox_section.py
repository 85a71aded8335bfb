"""The ``sandbox:`` section: how the built-in sandbox serves when the profile names no target.

```yaml
sandbox:
  twin: twin.yml     # a fitted twin (loadwatch twin): the sandbox serves like it
```

The path is relative to the profile. Only its existence is checked here (``driver`` may not
read twin files); ``tui.console.launch`` loads it and names a bad field in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driver.profile.model import SandboxOptions
from driver.profile.reader import Context, Field, read_fields

SANDBOX_FIELDS = (Field("twin", "twin", "string"),)


def sandbox_options(ctx: Context, top: dict[str, tuple[Any, int]],
                    serves_sandbox: bool) -> SandboxOptions | None:
    if "sandbox" not in top:
        return None
    value, line = top["sandbox"]
    values, keys = read_fields(ctx, value if value is not None else {}, "sandbox", line,
                               SANDBOX_FIELDS)
    if "twin" not in keys:
        ctx.error(line, "sandbox.twin", "missing: a twin file (loadwatch twin RECORDING -o "
                                        "twin.yml) for the sandbox to serve like")
        return None
    rel = values.get("twin")
    if not rel:
        if rel is not None:
            ctx.error(keys["twin"][1], "sandbox.twin", "expected a file name, got ''")
        return None
    twin_line = keys["twin"][1]
    if not serves_sandbox:
        ctx.error(twin_line, "sandbox.twin", "only for the built-in sandbox: the profile names "
                                             "a target (config.target or sagemaker.endpoint)")
        return None
    path = Path(rel) if Path(rel).is_absolute() else (ctx.base_dir / rel).resolve()
    if not path.is_file():
        ctx.error(twin_line, "sandbox.twin", f"no such file: {path}")
        return None
    return SandboxOptions(twin=str(path), twin_line=twin_line)
