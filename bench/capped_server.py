"""The real model server with a fixed CPU budget: nginx -> gunicorn -> Flask under ``cpucap``.

    .venv/bin/python bench/capped_server.py            # prints its URL, serves until Ctrl-C

``tests/servers/model_server.py`` (nginx in front of 2 gunicorn sync workers running a
scikit-learn tree, as SageMaker's "bring your own container" sample) started under
``/work/shared/tools/cpucap CPUS`` and ``taskset -c CORE``: nginx, gunicorn and its workers
are all children of one capped command, so together they get CPUS of one core, as an instance
has its own vCPUs, and the neighbours on a shared host no longer move its capacity between
runs. ``capped_model_server()`` starts it for a benchmark and gives its URL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CPUCAP = Path("/work/shared/tools/cpucap")


@contextmanager
def capped_model_server(cpus: float = 0.6, core: str = "0",
                        workers: int = 2) -> Iterator[str]:
    """Start the model server capped at ``cpus`` on ``core``; yields its URL."""
    prefix = ["taskset", "-c", core] if shutil.which("taskset") else []
    if CPUCAP.exists():
        prefix += [str(CPUCAP), f"{cpus:g}", "--"]
    process = subprocess.Popen(
        [*prefix, sys.executable, str(Path(__file__).resolve()), "--serve",
         "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the capped model server did not start: "
                               + (process.stderr.read() if process.stderr else "")[-500:])
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def serve(workers: int) -> None:
    from tests.servers.model_server import model_server

    stop = False

    def end(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGINT, end)
    with model_server(workers) as server:
        print(server.url, flush=True)
        while not stop:
            signal.pause()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpus", type=float, default=0.6)
    parser.add_argument("--core", default="0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:  # the child: already under cpucap and taskset
        serve(args.workers)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on the way out
    with capped_model_server(args.cpus, args.core, args.workers) as url:
        print(url, flush=True)
        with suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
