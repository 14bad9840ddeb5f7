"""How a failure goes on the wire: a JSON error body, and the NATS service error headers.

The headers are nats.micro's own (`Nats-Service-Error`, `Nats-Service-Error-Code`), so
`nats req` and other micro clients read our failures as they read any service's.
"""

from __future__ import annotations

import msgspec

from centralcloud.core import errors
from centralcloud.wire import messages

_encoder = msgspec.json.Encoder()


def body(err: errors.CentralCloudError) -> messages.ErrorBody:
    """The error as it appears in a reply, or in a rejected item of a batch."""
    return messages.ErrorBody(code=err.kind, message=err.message, status=err.status, details=dict(err.details))


def encode(err: errors.CentralCloudError) -> bytes:
    """The body of an error reply."""
    return _encoder.encode(messages.ErrorReply(error=body(err)))


def code(err: errors.CentralCloudError) -> str:
    """The value of nats.micro's error code header: the status, absent on success."""
    return str(err.status)


def description(err: errors.CentralCloudError) -> str:
    """The value of nats.micro's error header: header values must be one line, and short."""
    return " ".join(err.message.split())[:512]
