"""The twin file: one instance's fitted parameters, each with where it came from, and the
scaling policy a twin is run under. Pure: imports only the sandbox's configuration types.
"""

from twin.model.policy import METRICS, ScalingPolicy
from twin.model.twinfile import FIELDS, Stretches, Twin, TwinError, load_twin, save_twin

__all__ = ["FIELDS", "METRICS", "ScalingPolicy", "Stretches", "Twin", "TwinError", "load_twin",
           "save_twin"]
