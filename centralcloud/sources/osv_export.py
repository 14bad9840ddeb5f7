"""OSV's bulk exports: a zip, a directory of records or one record, read into advisories.

Each record goes through `osv.parse_record`, as the API's answers do; a file that
cannot be read is reported and skipped, so one bad record does not stop an import.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec

from centralcloud.core import errors, model
from centralcloud.sources import osv

log = logging.getLogger(__name__)

# A single record runs to kilobytes; a member this large in an export is not one.
_MAX_RECORD_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass
class ImportReport:
    """What reading one export came to."""

    read: int = 0
    """Records read and mapped."""
    errors: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(file, reason) for every file skipped."""

    @property
    def skipped(self) -> int:
        return len(self.errors)


def iter_export(
    path: str | os.PathLike[str], *, report: ImportReport | None = None, source: str = "import"
) -> Iterator[model.Advisory]:
    """Advisories from an OSV export: a zip (OSV's per-ecosystem all.zip), a directory of .json files, or one file.

    A file that cannot be read or mapped is logged, added to `report.errors` and skipped.
    """
    report = report if report is not None else ImportReport()
    location = pathlib.Path(path)
    for member, load in _members(location):
        try:
            data = load()
            if len(data) > _MAX_RECORD_BYTES:
                raise ValueError(f"{len(data)} bytes is too large for one record")
            advisory = osv.parse_record(msgspec.json.decode(data), source=source)
        except (
            OSError,
            zipfile.BadZipFile,
            zlib.error,
            msgspec.DecodeError,
            errors.BadResponse,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as err:
            reason = f"{type(err).__name__}: {err}"
            report.errors.append((member, reason))
            log.warning(
                "skipped %s in OSV export %s: %s",
                member,
                location,
                reason,
                extra={"action": "osv.import.skip", "file": member},
            )
            continue
        report.read += 1
        yield advisory


def _members(location: pathlib.Path) -> Iterator[tuple[str, Any]]:
    """(name, read) for each record file of an export."""
    if location.is_dir():
        for file in sorted(location.rglob("*.json")):
            if file.is_file():
                yield str(file.relative_to(location)), file.read_bytes
        return
    if zipfile.is_zipfile(location):
        with zipfile.ZipFile(location) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > _MAX_RECORD_BYTES:
                    yield info.filename, (lambda size=info.file_size: _too_large(size))
                    continue
                yield info.filename, (lambda info=info: archive.read(info))
        return
    if location.is_file():
        yield location.name, location.read_bytes
        return
    raise errors.BadRequest(f"no OSV export at {location}", path=str(location))


def _too_large(size: int) -> bytes:
    raise ValueError(f"{size} bytes is too large for one record")
