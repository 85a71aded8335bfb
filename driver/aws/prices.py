"""What instances cost: USD per instance-hour of SageMaker real-time inference, with where each
figure came from and when.

Three sources, in order: a ``--price`` override (``0.5`` for every type, or
``ml.m5.xlarge=0.269,ml.g5.xlarge=1.41``); the AWS Price List API (the ``pricing`` client's
``GetProducts`` on ``AmazonSageMaker``, component ``Hosting``, the endpoint's region) when AWS
credentials allow it; and the table below, each row with its source and the date it was read.
Every price a run uses is recorded in its header (``meta.prices``), so report and compare price
a recording the way the run did. Prices change and differ by region: the table is a fallback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PRICING_PAGE = "aws.amazon.com/sagemaker/pricing"
PRICE_SOURCE = f"approximate us-east-1 on-demand price; see {PRICING_PAGE}"
ANY_TYPE = "*"  # metrics.cost's key for a price without an instance type


@dataclass(frozen=True)
class PriceRow:
    usd_per_hour: float
    source: str
    date: str  # when the figure was read (YYYY-MM)

    def as_meta(self) -> dict[str, Any]:
        return {"usd_per_hour": self.usd_per_hour, "source": self.source, "date": self.date}


_PAGE = f"{PRICING_PAGE} (Real-Time Inference, us-east-1), as quoted in write-ups"
_ESTIMATE = "estimate, not checked against the price page"
TABLE: dict[str, PriceRow] = {
    "ml.t2.medium": PriceRow(0.056, _ESTIMATE, "2025-10"),
    "ml.t3.medium": PriceRow(0.05, _PAGE, "2025-10"),
    "ml.m4.xlarge": PriceRow(0.28, _ESTIMATE, "2025-10"),
    "ml.m5.large": PriceRow(0.115, _ESTIMATE, "2025-10"),
    "ml.m5.xlarge": PriceRow(0.269, _PAGE, "2026-03"),
    "ml.m5.2xlarge": PriceRow(0.538, _ESTIMATE, "2025-10"),
    "ml.c5.large": PriceRow(0.119, _ESTIMATE, "2025-10"),
    "ml.c5.xlarge": PriceRow(0.238, _ESTIMATE, "2025-10"),
    "ml.c5.2xlarge": PriceRow(0.476, _ESTIMATE, "2025-10"),
    "ml.c7g.large": PriceRow(0.10, _ESTIMATE, "2025-10"),
    "ml.g4dn.xlarge": PriceRow(0.736, _ESTIMATE, "2025-10"),
    "ml.g5.xlarge": PriceRow(1.41, _PAGE, "2026-03"),
    "ml.g5.2xlarge": PriceRow(1.52, _PAGE, "2026-03"),
    "ml.inf2.xlarge": PriceRow(0.76, _PAGE, "2026-03"),
    "ml.p4d.24xlarge": PriceRow(37.69, _PAGE, "2026-03"),
}
USD_PER_HOUR: dict[str, float] = {name: row.usd_per_hour for name, row in TABLE.items()}


class PriceError(ValueError):
    """A --price that cannot be read; the message says which part and why."""


def parse_price(text: str) -> dict[str, float]:
    """``0.5`` -> {"*": 0.5}; ``ml.m5.xlarge=0.269,ml.g5.xlarge=1.41`` -> per type."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        name, _, value = part.rpartition("=")
        try:
            usd = float(value)
        except ValueError:
            raise PriceError(f"--price {text}: {part!r} is not USD per hour (e.g. 0.269 or "
                             "ml.m5.xlarge=0.269)") from None
        if not usd >= 0 or usd == float("inf"):
            raise PriceError(f"--price {text}: {part!r} must be a price of 0 or more")
        out[name.strip() or ANY_TYPE] = usd
    return out


def price_list_lookup(pricing: Any, instance_type: str, region: str) -> PriceRow | None:
    """The on-demand hourly price of ``instance_type`` hosting in ``region`` from the AWS
    Price List API (``pricing``: a boto3 ``pricing`` client), or None if it lists none."""
    response = pricing.get_products(
        ServiceCode="AmazonSageMaker", FormatVersion="aws_v1", MaxResults=10,
        Filters=[{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in (
            ("instanceName", instance_type), ("regionCode", region), ("component", "Hosting"))])
    for item in response.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if dimension.get("unit", "").lower().startswith("hr") and usd is not None:
                    date = str(product.get("publicationDate") or term.get("effectiveDate")
                               or "")[:10]
                    return PriceRow(float(usd), f"AWS Price List API, {region}", date)
    return None


def resolve_prices(instance_types: list[str | None], *, override: dict[str, float] | None,
                   pricing: Any = None, region: str | None = None,
                   today: str = "") -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The price of each type (as ``meta.prices`` holds them) and notes on what was used:
    the override, else the Price List API (when ``pricing`` is given), else the table."""
    prices: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for name, usd in (override or {}).items():
        prices[name] = PriceRow(usd, "--price", today).as_meta()
    for instance_type in {t for t in instance_types if t}:
        if instance_type in prices or ANY_TYPE in prices:
            continue
        row = None
        if pricing is not None and region:
            try:
                row = price_list_lookup(pricing, instance_type, region)
            except Exception as exc:  # no permission, no network: the table stands in
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                notes.append(f"prices: the AWS Price List API did not answer "
                             f"({code or type(exc).__name__}); using the table")
        row = row or TABLE.get(instance_type)
        if row is None:
            notes.append(f"prices: no price known for {instance_type}; give --price "
                         f"{instance_type}=USD_PER_HOUR to see what the run costs")
            continue
        prices[instance_type] = row.as_meta()
    return prices, notes


def cost_per_hour(instance_type: str | None, instances: int) -> str:
    """``about $0.54/hour for 2 x ml.m5.xlarge (…)``, or why no figure can be given."""
    if instances <= 0:
        return "nothing extra per hour"
    price = USD_PER_HOUR.get(instance_type or "")
    kind = instance_type or "instances of an unknown type"
    if price is None:
        return (f"{instances} x {kind} billed by the hour (no price known for this type; see "
                f"{PRICING_PAGE})")
    return f"about ${price * instances:.2f}/hour for {instances} x {kind} ({PRICE_SOURCE})"
