"""What instances left running cost: a small table of SageMaker real-time inference prices.

On-demand USD per instance-hour for real-time inference in us-east-1, approximate. Sources:
the AWS price page (https://aws.amazon.com/sagemaker/pricing/, "Real-Time Inference"), as
quoted in October 2025 - March 2026 write-ups (ml.m5.xlarge $0.269, ml.g5.xlarge $1.41,
ml.t3.medium $0.05, ml.g5.2xlarge $1.52, ml.inf2.xlarge $0.76, ml.p4d.24xlarge $37.69); the
others are estimates that were not checked against the page when written. Other regions cost
more or less, and prices change: every line that quotes one says it is an estimate and where to
check.
"""

from __future__ import annotations

PRICE_SOURCE = "approximate us-east-1 on-demand price; see aws.amazon.com/sagemaker/pricing"

USD_PER_HOUR: dict[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.t3.medium": 0.05,
    "ml.m4.xlarge": 0.28,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.269,
    "ml.m5.2xlarge": 0.538,
    "ml.c5.large": 0.119,
    "ml.c5.xlarge": 0.238,
    "ml.c5.2xlarge": 0.476,
    "ml.c7g.large": 0.10,
    "ml.g4dn.xlarge": 0.736,
    "ml.g5.xlarge": 1.41,
    "ml.g5.2xlarge": 1.52,
    "ml.inf2.xlarge": 0.76,
    "ml.p4d.24xlarge": 37.69,
}


def cost_per_hour(instance_type: str | None, instances: int) -> str:
    """``about $0.54/hour for 2 x ml.m5.xlarge (…)``, or why no figure can be given."""
    if instances <= 0:
        return "nothing extra per hour"
    price = USD_PER_HOUR.get(instance_type or "")
    kind = instance_type or "instances of an unknown type"
    if price is None:
        return (f"{instances} x {kind} billed by the hour (no price known for this type; see "
                "aws.amazon.com/sagemaker/pricing)")
    return f"about ${price * instances:.2f}/hour for {instances} x {kind} ({PRICE_SOURCE})"
