"""Virtual time: the sandbox's endpoint, metric store and autoscaler on a virtual clock, serving
a twin's instances a second at a time, and the records a live session would have written.
"""

from twin.virtual.run import EPOCH0, RunResult, VirtualRun
from twin.virtual.traffic import (
    Traffic,
    client_in_flight_cap,
    constant_traffic,
    traffic_from_profile,
    traffic_from_recording,
)

__all__ = ["EPOCH0", "RunResult", "Traffic", "VirtualRun", "client_in_flight_cap",
           "constant_traffic", "traffic_from_profile", "traffic_from_recording"]
