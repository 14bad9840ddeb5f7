"""`serve --workers N`: N service processes on one machine, in one queue group.

Python runs one core per process, so a machine with more cores serves with more processes.
The process `serve` starts owns the embedded servers when there are any. Once it has migrated
the database, it starts the other N-1 as `python -m centralcloud.runtime.worker_main`, handing
each its settings on stdin (secrets stay off the command line) with the database and NATS
URLs it really serves on, so they connect instead of starting servers of their own.

Every worker is a whole service (endpoints, cache, scheduler): NATS spreads requests over
the queue group, and the sync's advisory lock keeps to one run across workers as it does
across replicas. SIGTERM to the first process stops the others before its own servers; a
worker whose first process has gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any

import pydantic

from centralcloud.runtime import config

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0
"""Seconds a worker may take to finish its requests in flight after SIGTERM before it is killed."""


def handover(settings: config.Settings, *, database_url: str, nats_url: str, json_logs: bool) -> bytes:
    """What a worker reads on stdin: these settings, pointed at the servers already running."""
    values: dict[str, Any] = {}
    for field, value in settings:
        if isinstance(value, pydantic.SecretStr):
            value = value.get_secret_value()
        values[field] = value
    values |= {
        "database_url": database_url, "nats_url": nats_url, "embedded": False, "embedded_nats": False, "workers": 1,
    }
    return json.dumps({"settings": values, "json_logs": json_logs, "parent": os.getpid()}, default=str).encode()


class Workers:
    """The processes started beside this one."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes

    @classmethod
    async def start(
        cls, settings: config.Settings, *, count: int, database_url: str, nats_url: str, json_logs: bool = False
    ) -> Workers:
        payload = handover(settings, database_url=database_url, nats_url=nats_url, json_logs=json_logs)
        started = cls([])
        try:
            for _ in range(count):
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "centralcloud.runtime.worker_main", stdin=asyncio.subprocess.PIPE
                )
                started.processes.append(process)
                assert process.stdin is not None
                process.stdin.write(payload)
                await process.stdin.drain()
                process.stdin.close()
        except BaseException:
            await started.stop()
            raise
        logger.info(
            "started %d more service processes: %s", count, ", ".join(str(p.pid) for p in started.processes),
            extra={"action": "workers"},
        )
        return started

    async def stop(self) -> None:
        """SIGTERM every worker, wait for them to finish, kill any that does not in time."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                logger.warning("worker %d did not stop in time; killed", process.pid, extra={"action": "workers"})
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
