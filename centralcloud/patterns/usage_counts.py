"""Usage counts at scale, with arrays (as `pair_counts` does for pairs).

The recompute reads every project's dependency arrays once, flat, and counts here what the usage
of each package is: projects and instances using it (directly and in all), when it was last
reported, which versions enough instances share, which packages each instance uses (for the
trend), and the direct items the pairs are counted over. Grouping by packed integer keys with
sorts takes a fraction of what PostgreSQL's hash aggregates over the same two million rows took.
"""

from __future__ import annotations

import msgspec
import numpy as np


class _Items(msgspec.Struct, frozen=True):
    sizes: np.ndarray
    instance: np.ndarray
    seen: np.ndarray
    packages: np.ndarray
    directs: np.ndarray
    versions: np.ndarray


class Usage(msgspec.Struct, frozen=True):
    package: np.ndarray
    """The package ids, ascending; the next six arrays go with it."""
    projects: np.ndarray
    instances: np.ndarray
    direct_projects: np.ndarray
    direct_instances: np.ndarray
    last_seen: np.ndarray
    transactions: int
    """Projects with at least one direct dependency."""
    in_use: tuple[np.ndarray, np.ndarray]
    """(instance code, package id) of every instance using a package, by instance then package."""
    versions: tuple[np.ndarray, np.ndarray, np.ndarray]
    """(package id, version code, instances) of the versions at least the threshold of instances share."""
    pair_items: tuple[np.ndarray, np.ndarray, np.ndarray]
    """(instance code, project, package id) of the direct uses of packages used directly by at
    least the threshold of instances: what `pair_counts.count` takes."""


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys begins."""
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _groups(major: np.ndarray, minor: np.ndarray, width: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by (major, minor), minor < width: the order that sorts them, where each group
    starts in that order, and each group's major and minor."""
    key = major * width + minor
    order = np.argsort(key)
    sorted_key = key[order]
    starts = _starts(sorted_key)
    return order, starts, sorted_key[starts] // width, sorted_key[starts] % width


def count(
    *, sizes: np.ndarray, instance: np.ndarray, seen: np.ndarray, packages: np.ndarray, directs: np.ndarray,
    versions: np.ndarray, min_instances: int,
) -> Usage:
    """Count the usage of every package; versions and pair items only where at least
    `min_instances` instances share them.

    Every dependency entry of every project comes flat, projects one after another: `sizes`
    (entries per project), `instance` (per project, its instance as a small integer 0, 1, ...)
    and `seen` (per project, its last report in seconds since the epoch); `packages`, `directs`
    and `versions` (a small integer, -1 when the report gave none) per entry."""
    items = _Items(sizes=sizes, instance=instance, seen=seen, packages=packages, directs=directs, versions=versions)
    empty = np.zeros(0, dtype=np.int64)
    if items.packages.size == 0:
        return Usage(
            package=empty, projects=empty, instances=empty, direct_projects=empty, direct_instances=empty,
            last_seen=np.zeros(0), transactions=0, in_use=(empty, empty), versions=(empty, empty, empty),
            pair_items=(empty, empty, empty),
        )
    n_projects = np.int64(items.sizes.size)
    n_instances = np.int64(items.instance.max()) + 1
    project = np.repeat(np.arange(n_projects, dtype=np.int64), items.sizes)
    ids, code = np.unique(items.packages, return_inverse=True)
    code = code.astype(np.int64)
    n_packages = np.int64(ids.size)

    # One row per (package, project), direct when any entry of it is (a project may report two
    # versions of one package).
    order, starts, pp_package, pp_project = _groups(code, project, n_projects)
    pp_direct = np.maximum.reduceat(items.directs[order].astype(np.int8), starts).astype(bool)
    pp_instance = items.instance[pp_project].astype(np.int64)

    # One row per (package, instance).
    order, starts, pi_package, pi_instance = _groups(pp_package, pp_instance, n_instances)
    pi_projects = np.diff(np.r_[starts, order.size])
    pi_direct = np.add.reduceat(pp_direct[order].astype(np.int64), starts)
    pi_seen = np.maximum.reduceat(items.seen[pp_project[order]], starts)

    # One row per package (pi_package ascends, and every package has at least one row).
    projects = np.bincount(pi_package, weights=pi_projects, minlength=n_packages).astype(np.int64)
    instances = np.bincount(pi_package, minlength=n_packages).astype(np.int64)
    direct_projects = np.bincount(pi_package, weights=pi_direct, minlength=n_packages).astype(np.int64)
    direct_instances = np.bincount(pi_package, weights=pi_direct > 0, minlength=n_packages).astype(np.int64)
    last_seen = np.maximum.reduceat(pi_seen, _starts(pi_package))

    by_instance = np.lexsort((pi_package, pi_instance))
    in_use = (pi_instance[by_instance], ids[pi_package[by_instance]])

    # Versions: distinct (package, version, instance), then instances per (package, version).
    known = items.versions >= 0
    n_versions = np.int64(items.versions.max()) + 1 if known.any() else np.int64(1)
    if n_packages * n_versions * n_instances >= 2**63:
        raise ValueError("too many packages, versions and instances to pack into 64 bits")
    triples = np.unique((code[known] * n_versions + items.versions[known]) * n_instances
                        + items.instance[project[known]].astype(np.int64))
    package_version, shared = np.unique(triples // n_instances, return_counts=True)
    kept = shared >= min_instances
    versions = (ids[package_version[kept] // n_versions], package_version[kept] % n_versions, shared[kept].astype(np.int64))

    wide = direct_instances >= min_instances
    chosen = pp_direct & wide[pp_package]
    pair_items = (pp_instance[chosen], pp_project[chosen], ids[pp_package[chosen]])
    return Usage(
        package=ids.astype(np.int64), projects=projects, instances=instances, direct_projects=direct_projects,
        direct_instances=direct_instances, last_seen=last_seen,
        transactions=int(np.unique(pp_project[pp_direct]).size), in_use=in_use, versions=versions,
        pair_items=pair_items,
    )
