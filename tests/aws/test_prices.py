"""Prices: the AWS Price List API through a botocore Stubber (the shape GetProducts answers
with), the table as fallback, and --price overriding both."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from driver.aws.prices import TABLE, PriceError, parse_price, resolve_prices

FILTERS = [{"Type": "TERM_MATCH", "Field": "instanceName", "Value": "ml.m5.xlarge"},
           {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
           {"Type": "TERM_MATCH", "Field": "component", "Value": "Hosting"}]
PRODUCT = {
    "product": {"productFamily": "ML Instance",
                "attributes": {"instanceName": "ml.m5.xlarge", "regionCode": "eu-west-1",
                               "component": "Hosting"}},
    "publicationDate": "2026-11-30T17:04:11Z",
    "terms": {"OnDemand": {"SKU.JRTCKXETXF": {
        "effectiveDate": "2026-11-01T00:00:00Z",
        "priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": "0.2990000000"},
            "description": "$0.299 per Hosting ml.m5.xlarge hour in EU (Ireland)"}}}}},
}


@pytest.fixture
def pricing():
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
    with Stubber(client) as stubber:
        yield client, stubber


def _expect(stubber: Stubber, response: dict) -> None:
    stubber.add_response("get_products", response, {
        "ServiceCode": "AmazonSageMaker", "FormatVersion": "aws_v1", "MaxResults": 10,
        "Filters": FILTERS})


def test_the_price_list_api_wins_over_the_table(pricing) -> None:
    client, stubber = pricing
    _expect(stubber, {"FormatVersion": "aws_v1", "PriceList": [json.dumps(PRODUCT)]})
    prices, notes = resolve_prices(["ml.m5.xlarge"], override=None, pricing=client,
                                   region="eu-west-1")
    assert prices == {"ml.m5.xlarge": {"usd_per_hour": 0.299,
                                       "source": "AWS Price List API, eu-west-1",
                                       "date": "2026-11-30"}}
    assert notes == []
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_a_refused_price_list_call_falls_back_to_the_table(pricing, code: str) -> None:
    client, stubber = pricing
    stubber.add_client_error("get_products", code, "no", expected_params={
        "ServiceCode": "AmazonSageMaker", "FormatVersion": "aws_v1", "MaxResults": 10,
        "Filters": FILTERS})
    prices, notes = resolve_prices(["ml.m5.xlarge"], override=None, pricing=client,
                                   region="eu-west-1")
    assert prices["ml.m5.xlarge"]["usd_per_hour"] == TABLE["ml.m5.xlarge"].usd_per_hour
    assert prices["ml.m5.xlarge"]["date"] == TABLE["ml.m5.xlarge"].date
    assert notes == [f"prices: the AWS Price List API did not answer ({code}); using the table"]


def test_an_empty_price_list_falls_back_to_the_table(pricing) -> None:
    client, stubber = pricing
    _expect(stubber, {"FormatVersion": "aws_v1", "PriceList": []})
    prices, _ = resolve_prices(["ml.m5.xlarge"], override=None, pricing=client,
                               region="eu-west-1")
    assert prices["ml.m5.xlarge"]["source"] == TABLE["ml.m5.xlarge"].source


def test_every_table_row_says_where_and_when() -> None:
    for name, row in TABLE.items():
        assert row.usd_per_hour > 0 and row.source and len(row.date) == 7, name


def test_price_override_and_unknown_types() -> None:
    assert parse_price("0.5") == {"*": 0.5}
    assert parse_price("ml.m5.xlarge=0.3, ml.g5.xlarge=1.5") == {"ml.m5.xlarge": 0.3,
                                                                 "ml.g5.xlarge": 1.5}
    prices, notes = resolve_prices(["ml.m5.xlarge", "ml.x9.huge"],
                                   override={"ml.m5.xlarge": 0.3}, today="2026-12-07")
    assert prices == {"ml.m5.xlarge": {"usd_per_hour": 0.3, "source": "--price",
                                       "date": "2026-12-07"}}
    assert notes == ["prices: no price known for ml.x9.huge; give --price "
                     "ml.x9.huge=USD_PER_HOUR to see what the run costs"]
    with pytest.raises(PriceError, match="'cheap' is not USD per hour"):
        parse_price("cheap")
    with pytest.raises(PriceError, match="must be a price of 0 or more"):
        parse_price("ml.m5.xlarge=-1")
