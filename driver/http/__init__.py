"""What speaks to the server: the lean HTTP/1.1 client, the targets (plain HTTP, the SageMaker
runtime with SigV4) that prepare and classify requests, ``make_target`` that builds the one a
spec names (``factory``), and the readers of streamed answers. Counts nothing. May import
``metrics``.
"""

from driver.http.client import Client, Flight, HttpError, Response, Wire, encode
from driver.http.factory import make_target
from driver.http.streams import (
    CRC_ERROR,
    INTERNAL_STREAM_FAILURE,
    MALFORMED_FRAME,
    MALFORMED_PAYLOAD,
    MODEL_STREAM_ERROR,
    MODEL_TIMEOUT,
    STREAM_CUT,
    StreamReader,
    StreamResult,
)
from driver.http.targets import HttpTarget, Prepared

__all__ = [
    "CRC_ERROR",
    "INTERNAL_STREAM_FAILURE",
    "MALFORMED_FRAME",
    "MALFORMED_PAYLOAD",
    "MODEL_STREAM_ERROR",
    "MODEL_TIMEOUT",
    "STREAM_CUT",
    "Client",
    "Flight",
    "HttpError",
    "HttpTarget",
    "Prepared",
    "Response",
    "StreamReader",
    "StreamResult",
    "Wire",
    "encode",
    "make_target",
]
