"""How the `centralcloud` command prints the service's replies for a person (--json prints them as sent)."""

from __future__ import annotations

from typing import Any


def show_package(reply: dict[str, Any], *, versions: int) -> str:
    lines = [f"{reply['display_name']} ({reply['ecosystem']})  latest: {reply.get('latest_version') or '-'}"]
    if reply.get("description"):
        lines.append(f"  {reply['description']}")
    if reply.get("deprecated"):
        lines.append(f"  DEPRECATED: {reply.get('deprecated_reason') or 'yes'}")
    facts = [
        ("purl", reply.get("purl")),
        ("licenses", ", ".join(reply.get("licenses") or []) or None),
        ("homepage", reply.get("homepage")),
        ("repository", reply.get("repository_url")),
        ("documentation", reply.get("documentation_url")),
        ("downloads", _downloads(reply.get("downloads"))),
        ("stars", (reply.get("repository") or {}).get("stars")),
        ("advisories", _advisories(reply)),
        ("quality", _quality(reply.get("quality"))),
        ("synced", reply.get("synced_at")),
    ]
    lines += [f"  {label:<14}{value}" for label, value in facts if value not in (None, "")]
    deps = reply.get("dependencies") or []
    if deps:
        shown = ", ".join(f"{d['name']} {d['requirement']}" + (f" ({d['kind']})" if d["kind"] != "runtime" else "") for d in deps[:20])
        more = f" … and {len(deps) - 20} more" if len(deps) > 20 else ""
        lines.append(f"  {'dependencies':<14}{shown}{more}")
    lines.append(f"  versions ({reply.get('versions_total', 0)} in all, newest first):")
    for v in (reply.get("versions") or [])[:versions]:
        flags = [flag for flag in ("prerelease", "yanked", "deprecated") if v.get(flag)]
        when = (v.get("published_at") or "")[:10]
        lines.append(f"    {v['number']:<24}{when:<12}{' '.join(flags)}")
    return "\n".join(lines)


def show_search(reply: dict[str, Any]) -> str:
    hits = reply.get("hits") or []
    if not hits:
        return f"no stored package matches {reply.get('query')!r} (ask for packages with `centralcloud get` first)"
    lines = []
    for i, hit in enumerate(hits, 1):
        lines.append(f"{i:>2}. {hit['ecosystem']}/{hit['name']} {hit.get('latest_version') or ''}  [{hit['score']:.3f}]")
        if hit.get("description"):
            lines.append(f"    {hit['description'][:100]}")
    return "\n".join(lines)


def show_advisories(reply: dict[str, Any]) -> str:
    target = f"{reply['ecosystem']}/{reply['name']}" + (f" {reply['version']}" if reply.get("version") else "")
    if reply.get("version"):
        verdict = {True: "AFFECTED", False: "no known advisory affects it", None: "UNDETERMINED"}[reply.get("affected")]
        lines = [f"{target}: {verdict}"]
    else:
        lines = [f"{target}: {len(reply.get('advisories') or [])} advisories"]
    for item in reply.get("advisories") or []:
        score = f"{item['score']:.1f}" if item.get("score") is not None else "-"
        severity = (item.get("severity") or "unknown").upper()
        fixed = f"  fixed in {item['first_fixed']}" if item.get("first_fixed") else "  no fix known"
        aliases = f" ({', '.join(item['aliases'][:3])})" if item.get("aliases") else ""
        lines.append(f"  {severity:<9}{score:>5}  {item['id']}{aliases}{fixed}")
        if item.get("summary"):
            lines.append(f"           {item['summary'][:110]}")
    for item in reply.get("undetermined") or []:
        lines.append(f"  UNDETERMINED  {item['id']}: {item['reason']}")
    lines += [f"  warning: {w}" for w in reply.get("warnings") or []]
    return "\n".join(lines)


def show_runs(reply: dict[str, Any]) -> str:
    lines = []
    for run in reply.get("runs") or []:
        finished = (run.get("finished_at") or "")[:19].replace("T", " ")
        lines.append(
            f"run {run['id']:<5} {run['state']:<12} {run['trigger']:<9} started {run['started_at'][:19].replace('T', ' ')}"
            + (f"  finished {finished}" if finished else "") + f"  {run['done']}/{run['total']} packages"
        )
        for source, counts in sorted((run.get("counts") or {}).items()):
            lines.append(
                f"    {source:<6} checked {counts['checked']:>6}  updated {counts['updated']:>6}  "
                f"unchanged {counts['unchanged']:>6}  failed {counts['failed']:>5}"
            )
        for failure in (run.get("failures") or [])[:10]:
            lines.append(f"    failed {failure['ecosystem']}/{failure['name']} ({failure['source']}): {failure['reason'][:100]}")
        if run.get("error"):
            lines.append(f"    error: {run['error']}")
    return "\n".join(lines) or "no sync runs yet"


def progress_bar(run: dict[str, Any], width: int = 30) -> str:
    total, done = max(run["total"], 0), run["done"]
    filled = int(width * done / total) if total else (width if run["state"] != "running" else 0)
    counts = run.get("counts") or {}
    updated = sum(c["updated"] for c in counts.values())
    unchanged = sum(c["unchanged"] for c in counts.values())
    failed = sum(c["failed"] for c in counts.values())
    return (
        f"run {run['id']} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
        f"updated {updated}  unchanged {unchanged}  failed {failed}  "
        f"{run.get('phase') or run['state'] if run['state'] == 'running' else run['state']}"
    )


def show_request(reply: dict[str, Any]) -> str:
    lines = [f"accepted: {a['purl']}" for a in reply.get("accepted", [])]
    lines += [f"rejected #{r['index']}: {r['error']['message']}" for r in reply.get("rejected", [])]
    return "\n".join(lines)


def _downloads(counts: dict[str, Any] | None) -> str | None:
    labels = {"last_week": "last week", "last_month": "last month", "last_90_days": "last 90 days", "total": "in all"}
    shown = [f"{counts[key]:,} {label}" for key, label in labels.items() if counts and counts.get(key) is not None]
    return ", ".join(shown) or None


def _quality(quality: dict[str, Any] | None) -> str | None:
    if not quality:
        return None

    def number(key: str) -> str:
        return "unknown" if quality.get(key) is None else f"{quality[key]:.0f}"

    dimensions = ", ".join(f"{key} {number(key)}" for key in ("popularity", "maintenance", "security", "community"))
    return f"{number('score')}/100 ({dimensions})"


def _advisories(reply: dict[str, Any]) -> str | None:
    if not reply.get("latest_version"):
        return None
    if reply.get("advisories_latest") is None:
        return "unknown: no advisory source has answered recently"
    undetermined = reply.get("advisories_undetermined")
    return f"{reply['advisories_latest']} affect the latest version" + (f", {undetermined} undetermined" if undetermined else "")


def show_health(reply: dict[str, Any]) -> str:
    lines = [f"service: {reply['state']}"]
    for part in reply["components"]:
        latency = f"{part['latency_ms']:.1f} ms" if part["latency_ms"] is not None else "-"
        line = f"  {part['name']:<12} {part['state']:<9} {latency:>10}"
        if part["last_error"]:
            line += f"  last error: {part['last_error']}"
        lines.append(line)
    return "\n".join(lines)
