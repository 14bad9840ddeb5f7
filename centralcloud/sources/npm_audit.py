"""The npm registry's bulk advisory endpoint, the one `npm audit` uses.

`POST /-/npm/v1/security/advisories/bulk` with `{"<name>": ["<version>", ...]}` answers, per
package, the advisories affecting any of the versions sent: `id` (numeric), `url` (GitHub's
advisory page, so the GHSA id is read from it), `title`, `severity`, `vulnerable_versions`
(a node-semver range), `cwe`, and sometimes `cvss` {score, vectorString}. There are no OSV
events, so the range is stored as an `NPM_RANGE` and matched with npm's own range rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from centralcloud.core import errors, model, names
from centralcloud.sources import http, osv, readers

PATH = "-/npm/v1/security/advisories/bulk"
RANGE_TYPE = "NPM_RANGE"
_GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}", re.IGNORECASE)
# npm says "moderate" where CVSS says "medium".
_SEVERITY = {"moderate": "medium", "info": "none"}


class NpmAuditSource(http.HttpSource):
    """Advisories for npm packages from the registry itself."""

    name = "npm-audit"
    ecosystem = "npm"

    async def bulk(self, packages: Mapping[str, Sequence[str]]) -> list[model.Advisory]:
        """Advisories affecting any of the given versions of the given packages."""
        if not packages:
            return []
        response = await self.post_json(PATH, {name: list(versions) for name, versions in packages.items()})
        answer = readers.expect(response.json, dict, source=self.name, what="the bulk advisory answer")
        found: list[model.Advisory] = []
        for package, items in answer.items():
            if not isinstance(items, list):
                raise errors.BadResponse(f"advisories of {package!r} are not a list", source=self.name)
            try:
                name = names.normalize("npm", package)
            except errors.InvalidName:
                continue
            for item in items:
                if isinstance(item, dict):
                    found.append(parse(name, item))
        return found


def parse(package: str, item: dict[str, Any]) -> model.Advisory:
    url = readers.text(item.get("url"))
    ghsa = _GHSA.search(url or "")
    numeric = item.get("id")
    own_id = f"NPM-{numeric}" if isinstance(numeric, (int, str)) and str(numeric) else None
    if ghsa is None and own_id is None:
        raise errors.BadResponse(f"an advisory of {package!r} has neither an id nor a GHSA url", source="npm-audit")
    advisory_id = "GHSA" + ghsa.group(0)[4:].lower() if ghsa else own_id
    aliases = tuple(alias for alias in (own_id,) if alias and alias != advisory_id)
    cvss = readers.obj(item.get("cvss"))
    vector = readers.text(cvss.get("vectorString"))
    score = None
    if vector:
        kind = "CVSS_V4" if vector.startswith("CVSS:4") else "CVSS_V3" if vector.startswith("CVSS:3") else "CVSS_V2"
        score = osv.cvss_score(kind, vector)
    if score is None and isinstance(cvss.get("score"), (int, float)) and cvss["score"] > 0:
        score = float(cvss["score"])
    severity = readers.text(item.get("severity"))
    severity = _SEVERITY.get(severity.lower(), severity.lower()) if severity else None
    if score is not None:
        severity = osv.severity_label(score)
    vulnerable = readers.text(item.get("vulnerable_versions"))
    flags: tuple[str, ...] = () if vulnerable else ("missing_range",)
    ranges = (model.AffectedRange(type=RANGE_TYPE, events=({"range": vulnerable},)),) if vulnerable else ()
    return model.Advisory(
        id=advisory_id,
        aliases=aliases,
        summary=readers.text(item.get("title")),
        severity_vector=vector,
        severity_score=score,
        severity=severity,
        references=(url,) if url else (),
        affected=(model.AffectedPackage(ecosystem="npm", name=package, ranges=ranges, flags=flags),),
        source="npm",
    )
