"""Who may do what on the NATS server: roles, credentials, and how each role connects.

NATS itself enforces everything here. Each user is an nkey (an Ed25519 key pair;
the server keeps only the public key) with publish and subscribe permissions. The
four roles:

- service: answers every `centralcloud.>` request in its queue group, replies
  through `allow_responses`, publishes alerts and cache invalidations, and manages
  its JetStream streams;
- instance (one user per instance id): asks `centralcloud.packages.*` and
  `centralcloud.patterns.*`, reports only as itself, and reads only its own alerts
  through its own consumer;
- ops: `centralcloud.sync.*`, `$SRV.>`, and read-only JetStream information;
- monitoring: the service API's ping/info/stats and read-only JetStream information
  (the HTTP monitoring port is bound to localhost in the shipped configuration).

Every user reads replies only under its own inbox prefix `_INBOX_<user>`, so no user
can read another's answers.

Credentials on disk are `runtime/credentials.py`; connecting with them,
`runtime/nats_options.py`.
"""

from __future__ import annotations

import re
from typing import Any

from centralcloud.core import errors
from centralcloud.wire import subjects

SERVICE = "service"
OPS = "ops"
MONITORING = "monitoring"
INSTANCE = "instance"
ROLES = (SERVICE, OPS, MONITORING, INSTANCE)

REPORT_STREAM = subjects.REPORTS_STREAM
"""JetStream stream (created by the service) capturing `centralcloud.patterns.report.>`."""
ALERT_STREAM = subjects.ALERTS_STREAM
"""JetStream stream (created by the service) capturing `centralcloud.alerts.>`."""
REPORT_PREFIX = subjects.PATTERNS_REPORT.name
ALERT_PREFIX = subjects.ALERTS.name
INVALIDATE_SUBJECT = subjects.CACHE_INVALIDATE.name

# Instance ids become one subject token, one inbox prefix and one JetStream consumer
# name: ASCII letters, digits, '_' and '-' are safe in all three. Full match on the
# exact input, so "alpha\n" is refused rather than trimmed.
_INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Read-only JetStream API requests: account, stream and consumer information and
# listings. Nothing here creates, changes, purges or deletes.
_JS_READ_ONLY = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.CONSUMER.NAMES.*",
    "$JS.API.CONSUMER.LIST.*",
]


def validate_instance_id(instance_id: str) -> str:
    """`instance_id` unchanged if it full-matches [A-Za-z0-9_-]{1,64}; otherwise a BadRequest."""
    if not isinstance(instance_id, str) or _INSTANCE_ID.fullmatch(instance_id) is None:
        raise errors.BadRequest(
            f"invalid instance id {instance_id!r}: use 1 to 64 ASCII letters, digits, '_' or '-'",
            instance_id=str(instance_id),
        )
    return instance_id


def user_name(*, role: str, instance_id: str | None = None) -> str:
    """The user's name: the role, or `instance-<id>` for an instance."""
    if role == INSTANCE:
        return subjects.INSTANCE_USER.format(instance=validate_instance_id(instance_id))
    if role not in ROLES:
        raise errors.ConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def inbox_prefix(name: str) -> str:
    """The only inbox a user may subscribe to; nats-py's `inbox_prefix`."""
    return f"_INBOX_{name}"


def report_subject(instance_id: str) -> str:
    return f"{REPORT_PREFIX}.{validate_instance_id(instance_id)}"


def alert_subject(instance_id: str) -> str:
    return f"{ALERT_PREFIX}.{validate_instance_id(instance_id)}"


def alert_consumer(instance_id: str) -> str:
    """The name of the instance's own consumer on the alert stream (its id)."""
    return validate_instance_id(instance_id)


def permissions(*, role: str, instance_id: str | None = None) -> dict[str, Any]:
    """The NATS permissions block of a role (of one instance, for the instance role)."""
    name = user_name(role=role, instance_id=instance_id)
    inbox = [f"{inbox_prefix(name)}.>"]
    if role == SERVICE:
        return {
            "publish": {
                "allow": [
                    f"{ALERT_PREFIX}.>",
                    INVALIDATE_SUBJECT,
                    # Its own streams: create and update them, consume the report stream.
                    "$JS.API.>",
                    f"$JS.ACK.{REPORT_STREAM}.>",
                ],
            },
            "subscribe": {
                # Request subjects (queue group), the invalidation broadcast, the
                # service API's discovery subjects, and its own replies.
                "allow": ["centralcloud.>", "$SRV.>", *inbox],
            },
            # Replies to whoever asked, whatever their inbox: the server allows one
            # publish to each reply subject the service has received a request with.
            "allow_responses": True,
        }
    if role == OPS:
        return {
            "publish": {"allow": ["centralcloud.sync.*", "centralcloud.health", "$SRV.>", *_JS_READ_ONLY]},
            "subscribe": {"allow": inbox},
        }
    if role == MONITORING:
        return {
            "publish": {
                "allow": [
                    "centralcloud.health",
                    "$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>", "$SRV.STATS", "$SRV.STATS.>",
                    *_JS_READ_ONLY,
                ],
            },
            "subscribe": {"allow": inbox},
        }
    consumer = alert_consumer(instance_id)
    return {
        "publish": {
            "allow": [
                "centralcloud.packages.*",
                "centralcloud.frameworks.*",
                # Pattern questions are one token; those about an instance carry its
                # id as the last token, and only its own id is allowed.
                "centralcloud.patterns.*",
                f"centralcloud.patterns.*.{instance_id}",
                # Its consumer on the alert stream, filtered to its own subject. The
                # filter is part of the create subject (nats-server 2.10+), and the
                # server refuses a config whose filter differs from it, so no other
                # instance's alerts can be read by widening the filter.
                f"$JS.API.CONSUMER.CREATE.{ALERT_STREAM}.{consumer}.{alert_subject(instance_id)}",
                f"$JS.API.CONSUMER.INFO.{ALERT_STREAM}.{consumer}",
                f"$JS.API.CONSUMER.MSG.NEXT.{ALERT_STREAM}.{consumer}",
                f"$JS.API.CONSUMER.DELETE.{ALERT_STREAM}.{consumer}",
                f"$JS.ACK.{ALERT_STREAM}.{consumer}.>",
            ],
        },
        # Only its inbox: replies, JetStream publish acknowledgements and pulled alerts.
        "subscribe": {"allow": inbox},
    }


