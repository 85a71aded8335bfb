"""Regenerate the twin's fit fixtures with the real tool: ``python tests/twin/make_fixtures.py``.

The sandbox is configured with known parameters (``KNOWN``), then recorded twice by
``loadwatch run --headless``: ``twin-steps`` holds steps of constant load from far below to
far above one instance's capacity (scaling off), ``twin-scaleout`` a load that makes the
sandbox's autoscaler add instances. ``tests/twin/test_fit.py`` checks that ``loadwatch twin``
recovers the parameters from them.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT))

from sandbox.config import InstanceProfile, SandboxConfig, Timings  # noqa: E402

KNOWN = SandboxConfig(
    profile=InstanceProfile("ml.c5.large", vcpus=2, memory_gib=4.0, workers=2,
                            service_time_ms=25.0, jitter_ms=1.0, queue_bound=16,
                            container_timeout_s=5.0),
    timings=Timings(period_s=5.0, publication_delay_s=2.0, provisioning_delay_s=8.0,
                    deprovisioning_delay_s=2.0, default_cooldown_s=10.0),
    seed=21)

REQUEST = """\
scenarios:
  - flow:
      - post: {url: /invocations, body: "5,3.5,1.3,0.3", headers: {content-type: text/csv}}
sagemaker:
  endpoint: loadwatch-sandbox
  contentType: text/csv
metrics:
  period: 5
"""
STEPS = """\
config:
  phases:
    - {duration: 16, arrivalRate: 10, name: baseline}
    - {duration: 10, arrivalRate: 40, name: half}
    - {duration: 10, arrivalRate: 60, name: three quarters}
    - {duration: 10, arrivalRate: 110, name: over}
    - {duration: 10, arrivalRate: 140, name: far over}
scaling:
  enabled: false
""" + REQUEST
SCALE_OUT = """\
config:
  phases:
    - {duration: 30, arrivalRate: 130, name: surge}
scaling:
  enabled: true
  min: 1
  max: 3
  target: 2400
  scaleOutCooldown: 5
  scaleInCooldown: 60
""" + REQUEST


async def record(name: str, profile_text: str, tmp: Path) -> None:
    from sandbox.process import SandboxProcess

    profile = tmp / f"{name}.yml"
    profile.write_text(profile_text, encoding="utf-8")
    out = FIXTURES / f"{name}.jsonl"
    out.unlink(missing_ok=True)
    with SandboxProcess(KNOWN) as sandbox:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": sandbox.credentials.access_key_id,
               "AWS_SECRET_ACCESS_KEY": sandbox.credentials.secret_access_key,
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "LOADWATCH_SANDBOX_ENDPOINT": sandbox.endpoint_name}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui", "run", str(profile), "--headless", "--record",
            str(out), "--interval", "30", "--endpoint-url", sandbox.endpoint_url, "--region",
            sandbox.region, cwd=ROOT, env=env)
        code = await process.wait()
    if code not in (0, 1):
        raise SystemExit(f"loadwatch exited {code} while recording {name}")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await record("twin-steps", STEPS, Path(tmp))
        await record("twin-scaleout", SCALE_OUT, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
