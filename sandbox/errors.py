"""The one exception the sandbox answers with: an AWS error code, message and HTTP status.

Protocol modules turn it into the wire form botocore expects (``__type`` in a JSON or CBOR body,
``x-amzn-ErrorType`` for the REST runtime), so ``ClientError.response["Error"]["Code"]`` is the
code given here. ``query_code`` is the code CloudWatch's older query protocol used; it is sent
in ``x-amzn-query-error`` because CloudWatch is "awsQueryCompatible" and botocore reports that
code instead.
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, *,
                 query_code: str | None = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.query_code = query_code
        self.fields = fields or {}  # extra members of the modeled error shape


def validation(message: str) -> AwsError:
    """SageMaker's and Application Auto Scaling's ValidationException (400)."""
    return AwsError("ValidationException", message)


def unknown_operation(name: str) -> AwsError:
    return AwsError("UnknownOperationException",
                    f"The sandbox does not implement the operation {name!r}.",
                    query_code="InvalidAction")
