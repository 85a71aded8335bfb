"""AWS control: clients built once from the profile's settings, inference components (which
an endpoint hosts, their copies), scaling control (suspend, switch, restore policies, alarms
and instance or copy counts), and what instances cost.
May import ``driver.profile`` and ``metrics``.
"""

from driver.aws.clients import AwsClients, AwsError, AwsSettings, FrozenCredentials, call
from driver.aws.prices import cost_per_hour
from driver.aws.scaling import ScalingControl, ScalingState

__all__ = [
    "AwsClients",
    "AwsError",
    "AwsSettings",
    "FrozenCredentials",
    "ScalingControl",
    "ScalingState",
    "call",
    "cost_per_hour",
]
