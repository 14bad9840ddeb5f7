"""The answer commands of the CLI (recommend, recommendations, deps, dependents, frameworks) and how
their replies are printed for a person."""

from __future__ import annotations

import argparse
import collections
from collections.abc import Callable
from typing import Any

from centralcloud.core import errors
from centralcloud.wire import subjects

COMMANDS = ("recommend", "recommendations", "deps", "dependents", "frameworks")


def add_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Add the answer commands to the CLI's subparsers; returns them (each takes --timeout)."""
    recommend = commands.add_parser("recommend", help="the version of a package to use")
    recommend.add_argument("purl", help="a purl such as pkg:pypi/django")
    recommend.add_argument("--requirement", help="a requirement the pick must satisfy (^4, >=4.2,<6)")
    recommend.add_argument("--current", help="the version in use now")
    recommend.add_argument("--runtime", action="append", default=[], metavar="KEY=VERSION",
                           help="python=3.11, node=20, rust=1.75 or elixir=1.16 (repeatable)")  # fmt: skip
    recommend.add_argument("--pre", action="store_true", help="allow prereleases")
    recommend.add_argument("--min-age-days", type=float, help="cooldown in days")

    needs = commands.add_parser("recommendations", help="packages for a need, ranked")
    needs.add_argument("need", help='what the package should do, e.g. "task scheduler"')
    needs.add_argument("--ecosystem", help="restrict to one ecosystem")
    needs.add_argument("--limit", type=int, default=10)
    needs.add_argument("--no-discovery", action="store_true", help="do not ask the registries' search")

    deps = commands.add_parser("deps", help="a version's resolved dependency tree")
    deps.add_argument("purl", help="a purl with version, such as pkg:npm/express@4.21.2")
    deps.add_argument("--requirement", help="instead of a version: resolve this requirement first")
    deps.add_argument("--runtime", action="append", default=[], metavar="KEY=VERSION")
    deps.add_argument("--include", action="append", default=[], choices=("dev", "optional", "peer"))
    deps.add_argument("--extra", action="append", default=[], dest="extras", help="PyPI extra (repeatable)")
    deps.add_argument("--feature", action="append", default=[], dest="features", help="Cargo feature (repeatable)")
    deps.add_argument("--tree", action="store_true", help="print the tree, indented")
    deps.add_argument("--why", metavar="PURL", help="print every chain from the root to this package")

    dependents = commands.add_parser("dependents", help="stored packages depending on a package")
    dependents.add_argument("purl")

    frameworks = commands.add_parser("frameworks", help="a framework's stack; `frameworks detect PURL...`")
    frameworks.add_argument("purls", nargs="+", help="a framework's purl, or `detect` and purls")
    found = [recommend, needs, deps, dependents, frameworks]
    for sub in found:
        sub.add_argument("--json", action="store_true", help="print the reply as JSON")
    return found


def request(args: argparse.Namespace) -> tuple[subjects.Subject, dict[str, Any], Callable[[dict[str, Any]], str]]:
    """The subject, payload and printer for an answer command."""
    if args.command == "recommend":
        payload = {"purl": args.purl, "runtime": _runtime(args.runtime), "allow_prerelease": args.pre}
        for key, value in (("requirement", args.requirement), ("current", args.current), ("min_age_days", args.min_age_days)):
            if value is not None:
                payload[key] = value
        return subjects.PACKAGES_RECOMMEND, payload, show_recommend
    if args.command == "recommendations":
        payload = {"need": args.need, "limit": args.limit, "discover": not args.no_discovery}
        if args.ecosystem:
            payload["ecosystem"] = args.ecosystem
        return subjects.PACKAGES_RECOMMENDATIONS, payload, show_recommendations
    if args.command == "deps":
        payload = {"purl": args.purl, "runtime": _runtime(args.runtime), "include": args.include,
                   "extras": args.extras, "features": args.features}  # fmt: skip
        if args.requirement:
            payload["requirement"] = args.requirement
        if args.why:
            payload["target"] = args.why
        return subjects.PACKAGES_DEPENDENCIES, payload, lambda reply: show_deps(reply, tree=args.tree, why=bool(args.why))
    if args.command == "dependents":
        return subjects.PACKAGES_DEPENDENTS, {"purl": args.purl}, show_dependents
    if args.purls[0] == "detect":
        if len(args.purls) < 2:
            raise errors.BadRequest("usage: centralcloud frameworks detect PURL [PURL...]")
        return subjects.FRAMEWORKS_DETECT, {"purls": args.purls[1:]}, show_detected
    return subjects.FRAMEWORKS_GET, {"purl": args.purls[0]}, show_framework


def _runtime(items: list[str]) -> dict[str, str]:
    runtime = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise errors.BadRequest(f"--runtime {item!r}: write KEY=VERSION, such as python=3.11")
        runtime[key.strip()] = value.strip()
    return runtime


def show_recommend(reply: dict[str, Any]) -> str:
    lines = [f"{reply['purl']}" + ("  (least bad)" if reply.get("least_bad") else ""), f"  latest: {reply['latest']}"]
    lines += [f"  + {reason}" for reason in reply["reasons"]]
    lines += [f"  skipped {entry['version']}: {entry['why']}" for entry in reply.get("skipped", [])]
    upgrade = reply.get("upgrade")
    if upgrade:
        fixed = ", ".join(upgrade["advisories_fixed"]) or "no advisory"
        lines.append(f"  upgrade from {upgrade['from']}: {upgrade['breaking']} change, fixes {fixed}")
    return "\n".join(lines)


def show_recommendations(reply: dict[str, Any]) -> str:
    lines = [f"for {reply['need']!r}:"]
    for index, candidate in enumerate(reply["candidates"], 1):
        lines.append(f"{index:>3}. {candidate['purl']}  {candidate['score']:.3f}  {candidate.get('description') or ''}".rstrip())
        if candidate["why"]:
            lines.append("       " + "; ".join(candidate["why"]))
    discovery = reply.get("discovery")
    if discovery:
        lines.append(f"discovery: asked {', '.join(discovery['asked'])}, {discovery['found']} new"
                     + (f", failed {', '.join(discovery['failed'])}" if discovery["failed"] else ""))  # fmt: skip
    return "\n".join(lines)


def show_deps(reply: dict[str, Any], *, tree: bool, why: bool) -> str:
    lines = []
    if why:
        lines += [" > ".join(chain) for chain in reply.get("chains") or []] or ["no chain reaches the target"]
    elif tree:
        children = collections.defaultdict(list)
        for edge in reply["edges"]:
            children[edge["from"]].append(edge)
        seen: set[str] = set()

        def walk(node: str, depth: int) -> None:
            for edge in sorted(children[node], key=lambda e: e["to"]):
                repeat = edge["to"] in seen
                lines.append(f"{'  ' * depth}{edge['to']}" + (" (see above)" if repeat else ""))
                if not repeat:
                    seen.add(edge["to"])
                    walk(edge["to"], depth + 1)

        lines.append(reply["root"])
        seen.add(reply["root"])
        walk(reply["root"], 1)
    else:
        lines.append(f"{reply['root']}: {len(reply['nodes']) - 1} packages")
        lines += [f"  {'  ' * min(node['depth'], 1)}{node['name']}@{node['version']}" for node in reply["nodes"][1:]]
    lines += [f"missing {item['name']}: {item['why']}" for item in reply.get("missing", [])]
    lines += [f"conflict {item['name']}: {'; '.join(item['requirements'])}" for item in reply.get("conflicts", [])]
    if not reply.get("complete", True):
        lines.append("incomplete: fetching continues, ask again shortly")
    return "\n".join(lines)


def show_dependents(reply: dict[str, Any]) -> str:
    lines = [f"{reply['purl']} (latest {reply['latest_version']}): {reply['count']} dependents, {reply['lagging']} lagging"]
    lines += [f"  {entry['purl']}  {entry['requirement']}" + ("  lagging" if entry["lagging"] else "")
              for entry in reply["dependents"]]  # fmt: skip
    team = reply["team"]
    if team.get("instances") is not None:
        lines.append(f"team: {team['instances']} instances, {team['projects']} projects (directly or through dependencies)")
    lines.append(f"({reply['scope']})")
    return "\n".join(lines)


def show_framework(reply: dict[str, Any]) -> str:
    lines = [f"{reply['purl']} {reply['latest_version'] or ''}".rstrip()]
    lines += [f"  depends on {dep['purl']} {dep['requirement']}" for dep in reply["dependencies"]]
    lines.append(f"  plugins: {reply['plugins_total']}")
    lines += [f"    {plugin['purl']} ({plugin['how']})" for plugin in reply["plugins"]]
    lines += [f"  with {item['purl']}: {item['projects']} projects, lift {item['lift']}" for item in reply["companions"]]
    return "\n".join(lines)


def show_detected(reply: dict[str, Any]) -> str:
    lines = [f"{item['purl']}: {item['plugins']} plugins" for item in reply["frameworks"]]
    return "\n".join(lines or ["no frameworks"]) + f"\n(a framework has at least {reply['threshold']} stored plugins)"
