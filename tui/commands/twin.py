"""``loadwatch twin RECORDING... -o twin.yml``: fit a twin of one instance from recordings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "twin", help="fit a twin of one instance from recordings (find-capacity runs best)",
        description="Fit one instance's service time, parallelism, queue bound, capacity, "
                    "provisioning and CloudWatch publication delays from recordings; each "
                    "field says which recording and seconds it came from, and each step "
                    "is run on the twin and compared with the recording. Use the twin with "
                    "`loadwatch what-if` and `loadwatch sandbox --twin`. Exit 2 when the "
                    "recordings cannot give a field (too little load, say).")
    parser.add_argument("recordings", type=Path, nargs="+", metavar="RECORDING")
    parser.add_argument("-o", "--output", type=Path, default=Path("twin.yml"),
                        help="the twin file to write (default twin.yml)")
    parser.set_defaults(handler=cmd_twin)


def cmd_twin(args: argparse.Namespace) -> int:
    from metrics.llm import is_streaming
    from metrics.recording import RecordingError, read_recording
    from metrics.records import Tick
    from twin.fit import FitError, fit, latency_summary
    from twin.model import save_twin

    try:
        recordings = [read_recording(path) for path in args.recordings]
    except (RecordingError, OSError) as exc:
        print(f"loadwatch twin: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for recording in recordings:
        streamed = next((t.second for t in recording.records
                         if isinstance(t, Tick) and is_streaming(t)), None)
        if streamed is not None:
            print(f"loadwatch twin: {recording.path}: tick {streamed}: ttft: a streaming LLM "
                  "endpoint's recording; the twin models a plain request/response endpoint",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        twin = fit(recordings)
    except FitError as exc:
        print(f"loadwatch twin: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    save_twin(twin, args.output)
    print(f"twin of one {twin.instance_type}: {twin.capacity_rps:.1f} req/s sustained, "
          f"{twin.workers} in parallel, queue {twin.queue_bound}, service "
          f"{twin.service_time_ms:.1f} ms (ModelLatency {twin.model_latency_ms:.1f} ms), "
          f"provisioning {twin.provisioning_delay_s:g} s, publication delay "
          f"{twin.publication_delay_s:g} s, period {twin.period_s:g} s")
    if twin.stretches is not None:
        st = twin.stretches
        print(f"in stretches: {st.fast_rps:.0f} req/s fast (about {st.fast_s:.0f} s at a time), "
              f"{st.slow_rps:.0f} req/s slow (about {st.slow_s:.0f} s), slow "
              f"{st.slow_share:.0%} of the time")
    print("measured vs modelled, per step:")
    print(latency_summary(twin))
    for note in twin.notes:
        print(f"note: {note}")
    print(f"wrote {args.output}")
    return 0
