"""Co-usage pair counts at scale, with arrays instead of a SQL self-join.

PostgreSQL aggregates the ~12 million project pairs of 10,000 projects (50 direct dependencies
each) into ~9 million (instance, pair) groups in a hash table of close to a gigabyte and takes
half a minute; sorting the same pairs as packed 64-bit keys takes about a second. The store reads
the items, calls `count`, and writes the kept pairs back in one statement.
"""

from __future__ import annotations

import msgspec
import numpy as np


class PairCounts(msgspec.Struct, frozen=True):
    """Pairs a < b (package ids) shared by at least the threshold of distinct instances."""

    a: np.ndarray
    b: np.ndarray
    projects: np.ndarray
    instances: np.ndarray


def count(*, instances: np.ndarray, projects: np.ndarray, packages: np.ndarray, min_instances: int) -> PairCounts:
    """Count, for every pair of packages used in the same project, the projects and the distinct
    instances using both; keep pairs with at least `min_instances` instances. The three arrays
    give one (instance, project, package) item each, with no repeats; any order."""
    empty = np.zeros(0, dtype=np.int64)
    if packages.size == 0:
        return PairCounts(a=empty, b=empty, projects=empty, instances=empty)
    # Dense codes keep a whole (instance, a, b) triple in one int64 so one sort counts it.
    package_ids, package_code = np.unique(packages, return_inverse=True)
    _, instance_code = np.unique(instances, return_inverse=True)
    width = np.int64(package_ids.size)
    if (instance_code.max() + 1) * width * width >= 2**63:
        raise ValueError("too many instances and packages to pack a pair into 64 bits")
    order = np.lexsort((package_code, projects))  # by project, packages ascending inside it
    project_sorted = projects[order]
    codes = package_code[order].astype(np.int64)
    owners = instance_code[order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, project_sorted[1:] != project_sorted[:-1]])
    sizes = np.diff(np.r_[starts, project_sorted.size])
    keys = []
    # Projects of equal size form one matrix, so each size is paired with one fancy index.
    for size in np.unique(sizes):
        if size < 2:
            continue
        rows = starts[sizes == size][:, None] + np.arange(size)
        left, right = np.triu_indices(size, k=1)
        matrix = codes[rows]
        owner = owners[rows[:, 0]][:, None]
        keys.append(((owner * width + matrix[:, left]) * width + matrix[:, right]).ravel())
    if not keys:
        return PairCounts(a=empty, b=empty, projects=empty, instances=empty)
    per_instance, per_instance_projects = np.unique(np.concatenate(keys), return_counts=True)
    pair_key = per_instance % (width * width)
    # pair_key is sorted within each instance only, so the projects are summed through the inverse.
    pairs, inverse, pair_instances = np.unique(pair_key, return_inverse=True, return_counts=True)
    pair_projects = np.bincount(inverse, weights=per_instance_projects).astype(np.int64)
    kept = pair_instances >= min_instances
    pairs = pairs[kept]
    return PairCounts(
        a=package_ids[pairs // width].astype(np.int64),
        b=package_ids[pairs % width].astype(np.int64),
        projects=pair_projects[kept],
        instances=pair_instances[kept].astype(np.int64),
    )
