"""What the embedded servers share: ports, process ends and log tails.

Both embedded servers are separate processes that we start, wait for and stop;
these helpers are the part of that which does not depend on which server it is.
"""

from __future__ import annotations

import pathlib
import socket
import time

import psutil

from centralcloud.core import errors

# How long a server may take to come up or go down before we give up on it.
# Both start in well under a second on a laptop; the margin is for slow CI disks.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_LOG_TAIL_LINES = 15


class PortInUse(errors.ConfigError):
    """A port an embedded server needs is taken by another program."""

    kind = "port_in_use"

    def __init__(self, message: str, *, host: str | None = None, port: int | None = None, **details: object) -> None:
        super().__init__(message, host=host, port=port, **details)
        self.host = host
        self.port = port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (it can be taken before you use it)."""
    family = address_family(host=host)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def address_family(*, host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tail(*, path: pathlib.Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log output)"
    lines = text.rstrip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no log output)"


def wait_gone(*, process: psutil.Process, timeout: float) -> bool:
    # Not psutil's wait(): a daemonized or orphaned process is reaped by init, and an
    # init that is slow to reap (or never does, in some containers) leaves a zombie
    # that holds no port, no socket and no data, yet "exists".
    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)

