"""OSV exports read from a zip, a directory and a single file; broken files are reported and skipped."""

from __future__ import annotations

import logging
import pathlib
import zipfile

import pytest

import replay
from centralcloud.core import errors
import test_sources_osv
from centralcloud.sources import osv_export


def test_export_from_zip(tmp_path: pathlib.Path, caplog):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for advisory_id in test_sources_osv.RECORDS:
            zipped.writestr(f"{advisory_id}.json", replay.fixture(f"osv/{advisory_id}.json"))
        zipped.writestr("BROKEN-1.json", b'{"id": "BROKEN-1", "affected": [')
        zipped.writestr("NOID-1.json", b'{"summary": "an id is missing"}')
        zipped.writestr("README.txt", b"not a record")
    report = osv_export.ImportReport()
    with caplog.at_level(logging.WARNING, logger="centralcloud.sources.osv_export"):
        advisories = list(osv_export.iter_export(archive, report=report))
    assert [advisory.id for advisory in advisories] == list(test_sources_osv.RECORDS)
    assert all(advisory.source == "import" for advisory in advisories)
    assert report.read == len(test_sources_osv.RECORDS)
    assert report.skipped == 2
    assert [name for name, _ in report.errors] == ["BROKEN-1.json", "NOID-1.json"]
    assert report.errors[0][1].startswith("DecodeError")
    assert len([record for record in caplog.records if "skipped" in record.getMessage()]) == 2


def test_export_from_directory_with_a_broken_file(tmp_path: pathlib.Path):
    nested = tmp_path / "advisories" / "npm"
    nested.mkdir(parents=True)
    (tmp_path / "advisories" / "PYSEC-2023-225.json").write_bytes(replay.fixture("osv/PYSEC-2023-225.json"))
    (nested / "GHSA-rv95-896h-c2vc.json").write_bytes(replay.fixture("osv/GHSA-rv95-896h-c2vc.json"))
    (nested / "broken.json").write_bytes(b"<html>not json</html>")
    (nested / "notes.md").write_text("ignored")
    report = osv_export.ImportReport()
    advisories = list(osv_export.iter_export(tmp_path / "advisories", report=report, source="osv"))
    assert sorted(advisory.id for advisory in advisories) == ["GHSA-rv95-896h-c2vc", "PYSEC-2023-225"]
    assert report.read == 2
    assert report.errors == [(str(pathlib.Path("npm/broken.json")), report.errors[0][1])]
    assert "DecodeError" in report.errors[0][1]


def test_export_single_file_and_missing_path(tmp_path: pathlib.Path):
    single = tmp_path / "one.json"
    single.write_bytes(replay.fixture("osv/GHSA-g4rg-993r-mgx7.json"))
    (advisory,) = osv_export.iter_export(single)
    assert advisory.severity == "critical"
    with pytest.raises(errors.BadRequest):
        list(osv_export.iter_export(tmp_path / "missing.zip"))
