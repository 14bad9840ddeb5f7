"""Co-usage pair counts at scale, with arrays instead of a SQL self-join.

PostgreSQL aggregates the ~12 million project pairs of 10,000 projects (50 direct dependencies
each) into ~9 million (instance, pair) groups in a hash table of close to a gigabyte and takes
half a minute; one sort of the same pairs as packed 64-bit keys takes about a second. The store reads
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
    # Dense codes keep a whole (a, b, instance) triple in one int64, so one sort counts it.
    package_ids, package_code = np.unique(packages, return_inverse=True)
    _, instance_code = np.unique(instances, return_inverse=True)
    width = np.int64(package_ids.size)
    owners_count = np.int64(instance_code.max()) + 1
    if owners_count * width * width >= 2**63:
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
        keys.append(((matrix[:, left] * width + matrix[:, right]) * owners_count + owner).ravel())
    if not keys:
        return PairCounts(a=empty, b=empty, projects=empty, instances=empty)
    # Sorted, each pair's projects are one run and its instances the distinct keys in that run.
    triples = np.sort(np.concatenate(keys))
    pair_key = triples // owners_count
    runs = np.flatnonzero(np.r_[True, pair_key[1:] != pair_key[:-1]])
    pair_projects = np.diff(np.r_[runs, triples.size])
    pair_instances = np.add.reduceat(np.r_[True, triples[1:] != triples[:-1]].astype(np.int64), runs)
    kept = pair_instances >= min_instances
    pairs = pair_key[runs][kept]
    return PairCounts(
        a=package_ids[pairs // width].astype(np.int64),
        b=package_ids[pairs % width].astype(np.int64),
        projects=pair_projects[kept].astype(np.int64),
        instances=pair_instances[kept],
    )


def npmi(*, together: np.ndarray, a: np.ndarray, b: np.ndarray, total: int) -> np.ndarray:
    """NPMI of many pairs at once, as `metrics.npmi` (1 where the pair is in every transaction)."""
    together = together.astype(np.float64)
    result = np.ones(together.size)
    partial = together < total
    t = together[partial]
    result[partial] = np.log(t * total / (a[partial].astype(np.float64) * b[partial])) / -np.log(t / total)
    return result
