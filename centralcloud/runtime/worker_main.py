"""A service process started by `serve --workers N`: reads its settings on stdin (see
runtime/workers.py) and serves until SIGTERM, or until the first process has gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys

from centralcloud.runtime import app, config, logs

logger = logging.getLogger(__name__)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    # Reparented (the first process died without stopping us): nobody would ever stop this one.
    while os.getppid() == parent:
        await asyncio.sleep(1)
    logger.warning("the first service process has gone; stopping", extra={"action": "stop"})
    stop.set()


async def _serve(settings: config.Settings, parent: int) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_parent(parent, stop))
    try:
        await app.run(settings, stop=stop)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def main() -> int:
    received = json.loads(sys.stdin.buffer.read())
    settings = config.Settings.model_validate(received["settings"])
    logs.setup_logging(settings.log_level, json_logs=received["json_logs"])
    asyncio.run(_serve(settings, received["parent"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
