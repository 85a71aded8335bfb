"""What AWS error answers mean, in one place: the throttling codes and a ClientError's code.

A leaf module (it imports nothing, not even botocore) so that ``metrics`` (which may import
nothing of ours) and ``driver`` (workers included, which must stay light) share it.
"""

from __future__ import annotations

from typing import Any

# Every code AWS services answer with when the caller is sending too fast: SageMaker runtime
# (ThrottlingException), CloudWatch (Throttling), Application Auto Scaling
# (ThrottlingException), EC2-style APIs (RequestLimitExceeded), S3-style (SlowDown) and API
# Gateway-style (TooManyRequestsException).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown",
})
# Codes that mean a quota is used up: waiting and retrying does not help, raising the quota
# (or removing something) does. Application Auto Scaling's LimitExceededException ("a per-
# account resource limit is exceeded", botocore's application-autoscaling model), SageMaker's
# ResourceLimitExceeded (UpdateInferenceComponentRuntimeConfig, CreateEndpoint) and
# CloudWatch's LimitExceeded (PutMetricAlarm).
QUOTA_CODES = frozenset({"LimitExceededException", "ResourceLimitExceeded", "LimitExceeded"})


def _error(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)  # botocore's ClientError carries the answer
    error = response.get("Error") if isinstance(response, dict) else None
    return error if isinstance(error, dict) else {}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``AccessDeniedException``), or None."""
    return _error(exc).get("Code") or None


def error_message(exc: BaseException) -> str:
    """AWS's message for a ``ClientError``, or the exception's text for anything else."""
    error = _error(exc)
    return str(error.get("Message") or "") if error else str(exc)


def is_throttling(code: str | None) -> bool:
    return code in THROTTLING_CODES
