"""OSV: advisories from the OSV API and from OSV's bulk exports, in one normalized shape.

`parse_record` is the one place an OSV record (schema 1.x) becomes a
`model.Advisory`; the API client and the export reader (`sources.osv_export`) both go through it. Only
the ecosystems we serve are kept, and anything in a record we cannot read with
confidence is flagged on its `AffectedPackage` rather than dropped or guessed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import aiohttp
import cvss

from centralcloud.core import ecosystems, errors, model, names
from centralcloud.sources import http, readers

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.osv.dev"

"""Our ecosystem names and OSV's spelling of them."""

KNOWN_RANGE_TYPES = ("SEMVER", "ECOSYSTEM")
"""Range types whose events are versions of the package; others (GIT) are kept but flagged."""

# Preference among several vectors: v3 first, being the one every database scores and
# bands alike; then v4, then v2.
_CVSS = {"CVSS_V3": cvss.CVSS3, "CVSS_V4": cvss.CVSS4, "CVSS_V2": cvss.CVSS2}
# GitHub's own labels in database_specific.severity.
_LABELS = {
    "none": "none",
    "low": "low",
    "moderate": "medium",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# The OSV API takes at most this many queries per batch.
_BATCH = 1000


def cvss_score(kind: str, vector: str) -> float | None:
    """The CVSS base score of `vector` read as `kind` (CVSS_V2/V3/V4); None when it does not parse."""
    calculator = _CVSS.get(kind)
    if calculator is None:
        return None
    try:
        return float(calculator(vector.strip()).base_score)
    except (cvss.CVSSError, ArithmeticError, KeyError, IndexError, TypeError, ValueError):
        return None


def severity_label(score: float) -> str:
    """The CVSS v3 qualitative rating of a base score."""
    if score <= 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def parse_record(doc: Any, *, source: str = "osv") -> model.Advisory:
    """Map one OSV record; BadResponse when it has no id, flags on what else cannot be read."""
    record = readers.expect(doc, dict, source=source, what="an OSV record")
    advisory_id = readers.text(record.get("id"))
    if advisory_id is None:
        raise errors.BadResponse("an OSV record has no id", source=source)
    affected_entries = record.get("affected")
    affected_entries = affected_entries if isinstance(affected_entries, list) else []
    vector, score, label = _severity(record, affected_entries)
    return model.Advisory(
        id=advisory_id,
        aliases=tuple(alias for alias in readers.strings(record.get("aliases")) if alias != advisory_id),
        summary=readers.text(record.get("summary")),
        details=readers.text(record.get("details")),
        severity_vector=vector,
        severity_score=score,
        severity=label,
        published=readers.parse_timestamp(record.get("published")),
        modified=readers.parse_timestamp(record.get("modified")),
        withdrawn=readers.parse_timestamp(record.get("withdrawn")),
        references=readers.strings([item.get("url") for item in _objects(record.get("references"))]),
        affected=tuple(
            package
            for entry in affected_entries
            if (package := _affected(advisory_id, entry)) is not None
        ),
        source=source,
    )


def _severity(record: dict[str, Any], affected: list[Any]) -> tuple[str | None, float | None, str | None]:
    """(vector, score, label): the preferred vector's score, else the database's own label."""
    entries = _objects(record.get("severity"))
    if not entries:
        # Some databases score per affected package instead.
        for package in affected:
            entries.extend(_objects(readers.obj(package).get("severity")))
    vectors = {}
    for item in entries:
        kind, vector = item.get("type"), readers.text(item.get("score"))
        if kind in _CVSS and vector and kind not in vectors:
            vectors[kind] = vector
    database_label = _LABELS.get((readers.text(readers.obj(record.get("database_specific")).get("severity")) or "").lower())
    first_vector = None
    for kind in _CVSS:
        if kind not in vectors:
            continue
        first_vector = first_vector or vectors[kind]
        score = cvss_score(kind, vectors[kind])
        if score is not None:
            return vectors[kind], score, severity_label(score)
    # No vector that parses: keep what was written, and the database's label if it gave one.
    return first_vector, None, database_label


def _objects(value: object) -> list[dict[str, Any]]:
    """The JSON objects of an array; [] for anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _affected(advisory_id: str, entry: object) -> model.AffectedPackage | None:
    entry = readers.obj(entry)
    package = readers.obj(entry.get("package"))
    known = ecosystems.from_osv(readers.text(package.get("ecosystem")) or "")
    if known is None:
        return None
    ecosystem = known.key
    flags: list[str] = []
    raw_name = readers.text(package.get("name"))
    if raw_name is None:
        flags.append("missing_name")
        name = ""
    else:
        try:
            name = names.normalize(ecosystem, raw_name)
        except errors.InvalidName:
            flags.append("invalid_name")
            name = raw_name
    ranges = []
    listed = entry.get("ranges")
    if listed is not None and not isinstance(listed, list):
        flags.append("malformed_ranges")
        listed = []
    for item in listed or ():
        parsed = _range(item, flags)
        if parsed is not None:
            ranges.append(parsed)
    versions = entry.get("versions")
    if versions is not None and not isinstance(versions, list):
        flags.append("malformed_versions")
    if flags:
        log.debug(
            "OSV %s: flagged %s %s: %s",
            advisory_id,
            ecosystem,
            raw_name,
            ", ".join(flags),
            extra={"action": "osv.flag", "ecosystem": ecosystem, "advisory": advisory_id},
        )
    return model.AffectedPackage(
        ecosystem=ecosystem,
        name=name,
        ranges=tuple(ranges),
        versions=readers.strings(versions),
        flags=tuple(dict.fromkeys(flags)),
    )


def _range(item: object, flags: list[str]) -> model.AffectedRange | None:
    if not isinstance(item, dict) or not readers.text(item.get("type")):
        flags.append("malformed_range")
        return None
    kind = item["type"].strip()
    if kind not in KNOWN_RANGE_TYPES:
        flags.append(f"unknown_range_type:{kind}")
    events = []
    for event in item.get("events") if isinstance(item.get("events"), list) else ():
        if isinstance(event, dict) and event and all(
            isinstance(key, str) and isinstance(value, str) for key, value in event.items()
        ):
            events.append(dict(event))
        else:
            flags.append("malformed_event")
    if not events:
        flags.append("malformed_range")
    return model.AffectedRange(type=kind, events=tuple(events))


class OsvSource(http.HttpSource):
    """The OSV API: advisories per package, in batches, and by id."""

    name = "osv"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        policy: http.HttpPolicy = http.HttpPolicy(),
        max_pages: int = 100,
    ) -> None:
        super().__init__(session=session, base_url=base_url, policy=policy)
        self.max_pages = max_pages
        """Pages followed per query before the answer counts as runaway (BadResponse)."""

    async def query(self, ecosystem: str, name: str) -> list[model.Advisory]:
        """Every advisory affecting package `name` in `ecosystem`, following pages."""
        package = _package(ecosystem, name)
        found: dict[str, model.Advisory] = {}
        token = None
        for _ in range(self.max_pages):
            body: dict[str, Any] = {"package": package}
            if token:
                body["page_token"] = token
            response = await self.post_json("v1/query", body)
            page = readers.expect(response.json, dict, source=self.name, what="a query answer")
            for record in _list(page.get("vulns"), source=self.name, what="'vulns'"):
                advisory = parse_record(record, source=self.name)
                found.setdefault(advisory.id, advisory)
            token = _token(page, source=self.name)
            if token is None:
                return list(found.values())
        raise self._runaway(package)

    async def query_batch(self, packages: list[tuple[str, str]]) -> list[list[tuple[str, dt.datetime | None]]]:
        """(id, modified) of the advisories affecting each package, in the order given."""
        queries = [{"package": _package(ecosystem, name)} for ecosystem, name in packages]
        results: list[list[tuple[str, dt.datetime | None]]] = [[] for _ in queries]
        for start in range(0, len(queries), _BATCH):
            await self._batch(queries, results, range(start, min(start + _BATCH, len(queries))))
        return results

    async def _batch(
        self,
        queries: list[dict[str, Any]],
        results: list[list[tuple[str, dt.datetime | None]]],
        indices: range,
    ) -> None:
        pending = {index: None for index in indices}
        seen: list[set[str]] = [set() for _ in queries]
        for _ in range(self.max_pages):
            order = list(pending)
            body = {"queries": [_with_token(queries[index], pending[index]) for index in order]}
            answer = readers.expect(
                (await self.post_json("v1/querybatch", body)).json, dict, source=self.name, what="a batch answer"
            )
            answered = _list(answer.get("results"), source=self.name, what="'results'")
            if len(answered) != len(order):
                raise errors.BadResponse(
                    f"OSV answered {len(order)} queries with {len(answered)} results", source=self.name
                )
            pending = {}
            for index, result in zip(order, answered, strict=True):
                result = readers.expect(result, dict, source=self.name, what="a batch result")
                for vuln in _list(result.get("vulns"), source=self.name, what="'vulns'"):
                    vuln = readers.expect(vuln, dict, source=self.name, what="a batch entry")
                    vuln_id = readers.required(vuln, "id", str, source=self.name)
                    if vuln_id not in seen[index]:
                        seen[index].add(vuln_id)
                        results[index].append((vuln_id, readers.parse_timestamp(vuln.get("modified"))))
                token = _token(result, source=self.name)
                if token is not None:
                    pending[index] = token
            if not pending:
                return
        raise self._runaway(queries[next(iter(pending))]["package"])

    async def get(self, advisory_id: str) -> model.Advisory:
        """One advisory by its OSV id (NotFound when OSV has none)."""
        if not isinstance(advisory_id, str) or not _ID.match(advisory_id):
            raise errors.BadRequest(f"{advisory_id!r} is not an OSV id", id=advisory_id)
        response = await self.get_json(f"v1/vulns/{advisory_id}")
        return parse_record(response.json, source=self.name)

    def _runaway(self, package: dict[str, str]) -> errors.BadResponse:
        return errors.BadResponse(
            f"OSV kept paging past {self.max_pages} pages for {package['ecosystem']} {package['name']}",
            source=self.name,
        )


def _package(ecosystem: str, name: str) -> dict[str, str]:
    ours = names.ecosystem(ecosystem)
    return {"name": names.normalize(ours, name), "ecosystem": ecosystems.get(ours).osv_name}


def _with_token(query: dict[str, Any], token: str | None) -> dict[str, Any]:
    return {**query, "page_token": token} if token else query


def _list(value: object, *, source: str, what: str) -> list[Any]:
    # OSV leaves out empty lists altogether.
    return [] if value is None else readers.expect(value, list, source=source, what=what)


def _token(page: dict[str, Any], *, source: str) -> str | None:
    token = page.get("next_page_token")
    if token is None or token == "":
        return None
    return readers.expect(token, str, source=source, what="'next_page_token'")
