"""Reported packages nobody has stored yet, fetched in the background at a polite rate.

Ingest never waits for a registry: it queues what it has not seen, and one worker fetches
them one at a time, at most `rate` per second. The sync would fetch them too (reported
packages are in `used_packages()`); this only makes facts arrive sooner.
"""

from __future__ import annotations

import asyncio
import logging

from centralcloud.core import errors, names
from centralcloud.facts import catalog

logger = logging.getLogger(__name__)


class Backfill:
    def __init__(self, *, the_catalog: catalog.Catalog, rate: float, max_queued: int = 100_000) -> None:
        self.catalog = the_catalog
        self.rate = rate
        self.max_queued = max_queued
        self._queue: asyncio.Queue[names.PackageRef] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()

    def add(self, refs: list[names.PackageRef]) -> None:
        for ref in refs:
            key = (ref.ecosystem, ref.name)
            if key in self._queued or len(self._queued) >= self.max_queued or ref.ecosystem not in self.catalog.sources:
                continue
            self._queued.add(key)
            self._queue.put_nowait(ref)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ref = await self._queue.get()
            try:
                await self.catalog.refresh(ref, conditional=False)
            except errors.CentralCloudError as err:
                logger.info("reported package %s not fetched: %s", ref.purl, err.message, extra={"action": "backfill"})
            finally:
                self._queued.discard((ref.ecosystem, ref.name))
            await asyncio.sleep(1 / self.rate)
