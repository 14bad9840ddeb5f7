-- Every query CentralCloud runs, by name. Code refers to queries only through centralcloud.db.

-- name: lock_migrations --
-- Wait for the migration advisory lock ($1: lock key).
SELECT pg_advisory_lock($1);

-- name: unlock_migrations --
-- Release the migration advisory lock ($1: lock key).
SELECT pg_advisory_unlock($1);

-- name: create_migrations_table --
-- Create the table recording applied migrations, if missing.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: list_migrations --
-- Applied migrations.
SELECT version, name, applied_at FROM schema_migrations ORDER BY version;

-- name: record_migration --
-- Record one applied migration ($1: version, $2: name).
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);

-- name: save_package --
-- Store one package in a single statement (one round trip, one transaction): the package row,
-- its versions, its dependency rows (those of its latest version) and its encoded version list;
-- versions the registry no longer lists go. Only what changed is written: an unchanged version,
-- an unchanged list and dependency rows that already hold the latest version's list stay as
-- they are. Dependency lists are named by digest (the md5 of their JSON text, as a uuid): a list
-- the package already stores need not be sent. Returns (id, NULL): the package id; or, writing
-- nothing, (NULL, missing): the digests of the lists this save needs that were neither sent nor
-- stored (send them then).
-- $1 the package, a JSON object with the columns of `packages` it sets (ecosystem, name,
--    display_name, description, keywords, classifiers, licenses, homepage, repository_url,
--    documentation_url, latest_version, deprecated, deprecated_reason, downloads,
--    recent_downloads, peer_frameworks, extra, etag, last_modified).
-- $2 its versions, a JSON array of {number, published_at, prerelease, yanked, yanked_reason,
--    deprecated, deprecated_reason, licenses, dependencies, requires_runtime, features,
--    metadata_url}, where dependencies is the digest of its list, or null when the source did not say.
-- $3 dependency lists, JSON array texts of {ecosystem, name, requirement, kind, optional,
--    condition}; $4 their digests.
-- $5 true to commit without waiting for the WAL flush (sync writes can be fetched again).
-- $6 the versions as packages.get sends them (a JSON array, newest first).
WITH settings AS (
    SELECT CASE WHEN $5::boolean THEN set_config('synchronous_commit', 'off', true) END AS relaxed
), input AS (
    SELECT * FROM json_populate_record(NULL::packages, $1::text::json)
), incoming AS (
    SELECT * FROM json_to_recordset($2::text::json)
        AS t (number text, published_at timestamptz, prerelease boolean, yanked boolean, yanked_reason text,
              deprecated boolean, deprecated_reason text, licenses text[], dependencies uuid,
              requires_runtime text, features json, metadata_url text)
), old AS (
    -- What was stored before (every part of a statement sees the snapshot taken before it).
    SELECT p.id, p.latest_version, p.dependencies_digest
    FROM input i JOIN packages p ON p.ecosystem = i.ecosystem AND p.name = i.name
), changed AS MATERIALIZED (
    -- Versions new or different from their stored row: only these are written (an unchanged
    -- row is not even locked). A value the source did not say keeps the stored one.
    SELECT t.* FROM incoming t
    LEFT JOIN (SELECT v.* FROM versions v JOIN old ON v.package_id = old.id) v ON v.number = t.number
    WHERE v.number IS NULL
       OR (v.published_at, v.prerelease, v.yanked, v.yanked_reason, v.deprecated, v.deprecated_reason,
           v.licenses, v.dependencies_digest, v.requires_runtime, v.features::text, v.metadata_url)
          IS DISTINCT FROM
          (t.published_at, coalesce(t.prerelease, false), coalesce(t.yanked, false), t.yanked_reason,
           coalesce(t.deprecated, false), t.deprecated_reason, coalesce(t.licenses, '{}'),
           coalesce(t.dependencies, v.dependencies_digest), coalesce(t.requires_runtime, v.requires_runtime),
           coalesce(t.features, v.features)::text, coalesce(t.metadata_url, v.metadata_url))
), want AS (
    -- The list the dependency rows are to hold: the latest version's, when this fetch knows it;
    -- the stored one while the latest version stays; else none (they described another version).
    SELECT CASE WHEN t.dependencies IS NOT NULL THEN t.dependencies
                WHEN old.latest_version IS NOT DISTINCT FROM i.latest_version THEN old.dependencies_digest
           END AS digest
    FROM input i LEFT JOIN old ON true LEFT JOIN incoming t ON t.number = i.latest_version
), rows_change AS (
    SELECT w.digest FROM want w WHERE w.digest IS DISTINCT FROM (SELECT dependencies_digest FROM old)
), lists AS MATERIALIZED (
    -- Each list this statement writes, from $3 or else from a stored version of the package.
    SELECT n.digest, coalesce(
        (SELECT s.list FROM unnest($3::text[], $4::uuid[]) AS s (list, digest) WHERE s.digest = n.digest LIMIT 1),
        (SELECT v.dependencies::text FROM versions v, old
         WHERE v.package_id = old.id AND v.dependencies_digest = n.digest LIMIT 1)
    ) AS list
    FROM (SELECT dependencies AS digest FROM changed WHERE dependencies IS NOT NULL
          UNION SELECT digest FROM rows_change WHERE digest IS NOT NULL) AS n
), pkg AS (
    INSERT INTO packages AS p (
        ecosystem, name, display_name, description, keywords, classifiers, licenses, homepage,
        repository_url, documentation_url, latest_version, deprecated, deprecated_reason, downloads,
        recent_downloads, peer_frameworks, extra, etag, last_modified, synced_at, sync_error, search_vector,
        dependencies_digest
    )
    SELECT i.ecosystem, i.name, i.display_name, i.description, coalesce(i.keywords, '{}'),
           coalesce(i.classifiers, '{}'), coalesce(i.licenses, '{}'), i.homepage, i.repository_url,
           i.documentation_url, i.latest_version, coalesce(i.deprecated, false), i.deprecated_reason,
           i.downloads, i.recent_downloads, coalesce(i.peer_frameworks, '{}'), coalesce(i.extra, '{}'),
           i.etag, i.last_modified, now(), NULL,
           package_search_vector(i.display_name, i.keywords, i.description, i.classifiers),
           (SELECT digest FROM want)
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM lists WHERE list IS NULL)
    ON CONFLICT (ecosystem, name) DO UPDATE SET
        display_name = EXCLUDED.display_name,
        description = EXCLUDED.description,
        keywords = EXCLUDED.keywords,
        classifiers = EXCLUDED.classifiers,
        licenses = EXCLUDED.licenses,
        homepage = EXCLUDED.homepage,
        repository_url = EXCLUDED.repository_url,
        documentation_url = EXCLUDED.documentation_url,
        latest_version = EXCLUDED.latest_version,
        deprecated = EXCLUDED.deprecated,
        deprecated_reason = EXCLUDED.deprecated_reason,
        downloads = coalesce(EXCLUDED.downloads, p.downloads),
        recent_downloads = coalesce(EXCLUDED.recent_downloads, p.recent_downloads),
        peer_frameworks = EXCLUDED.peer_frameworks,
        extra = EXCLUDED.extra,
        etag = EXCLUDED.etag,
        last_modified = EXCLUDED.last_modified,
        synced_at = now(),
        sync_error = NULL,
        search_vector = EXCLUDED.search_vector,
        dependencies_digest = EXCLUDED.dependencies_digest
    RETURNING id, latest_version
), ver AS (
    INSERT INTO versions AS v (
        package_id, number, published_at, prerelease, yanked, yanked_reason, deprecated,
        deprecated_reason, licenses, dependencies, dependencies_digest, requires_runtime, features, metadata_url
    )
    SELECT pkg.id, t.number, t.published_at, coalesce(t.prerelease, false), coalesce(t.yanked, false),
           t.yanked_reason, coalesce(t.deprecated, false), t.deprecated_reason, coalesce(t.licenses, '{}'),
           (SELECT l.list FROM lists l WHERE l.digest = t.dependencies)::json, t.dependencies,
           t.requires_runtime, t.features, t.metadata_url
    FROM pkg, changed t
    ON CONFLICT (package_id, number) DO UPDATE SET
        published_at = EXCLUDED.published_at,
        prerelease = EXCLUDED.prerelease,
        yanked = EXCLUDED.yanked,
        yanked_reason = EXCLUDED.yanked_reason,
        deprecated = EXCLUDED.deprecated,
        deprecated_reason = EXCLUDED.deprecated_reason,
        licenses = EXCLUDED.licenses,
        -- A source that lists versions without their dependencies must not erase what another fetch learned.
        dependencies = coalesce(EXCLUDED.dependencies, v.dependencies),
        dependencies_digest = coalesce(EXCLUDED.dependencies_digest, v.dependencies_digest),
        -- Likewise for what only a per-release fetch tells (Hex's elixir requirement).
        requires_runtime = coalesce(EXCLUDED.requires_runtime, v.requires_runtime),
        features = coalesce(EXCLUDED.features, v.features),
        metadata_url = coalesce(EXCLUDED.metadata_url, v.metadata_url)
), gone AS (
    DELETE FROM versions v USING pkg
    WHERE v.package_id = pkg.id AND NOT EXISTS (SELECT 1 FROM incoming t WHERE t.number = v.number)
), old_rows AS (
    -- This removes only rows that existed before the statement (its one snapshot).
    DELETE FROM dependencies d USING pkg
    WHERE d.package_id = pkg.id AND EXISTS (SELECT 1 FROM rows_change)
), new_rows AS (
    INSERT INTO dependencies (package_id, ecosystem, name, requirement, kind, optional, condition)
    SELECT pkg.id, dep.ecosystem, dep.name, dep.requirement, dep.kind, coalesce(dep.optional, false), dep.condition
    FROM pkg
    CROSS JOIN rows_change r
    JOIN lists l ON l.digest = r.digest
    CROSS JOIN json_to_recordset(l.list::json)
         AS dep (ecosystem text, name text, requirement text, kind text, optional boolean, condition text)
), list AS (
    INSERT INTO package_version_lists AS l (package_id, total, versions)
    SELECT pkg.id, (SELECT count(*) FROM incoming), $6::bytea FROM pkg
    ON CONFLICT (package_id) DO UPDATE SET total = EXCLUDED.total, versions = EXCLUDED.versions
    WHERE (l.total, l.versions) IS DISTINCT FROM (EXCLUDED.total, EXCLUDED.versions)
)
SELECT pkg.id, NULL::uuid[] AS missing FROM pkg, settings
UNION ALL
SELECT NULL, array_agg(l.digest) FROM lists l WHERE l.list IS NULL HAVING count(*) > 0;

-- name: get_packages --
-- Packages' stored facts, each in one row: the dependencies declared by its latest version, its
-- encoded version list (NULL for a package stored before lists were kept), and what the
-- advisories answer needs to skip its own queries for a package no advisory names ($1
-- ecosystems, $2 names; a lookup: each row names its key's position as lookup_index).
SELECT k.lookup_index,
       p.id, p.ecosystem, p.name, p.display_name, p.description, p.keywords, p.classifiers, p.licenses,
       p.homepage, p.repository_url, p.documentation_url, p.latest_version, p.deprecated,
       p.deprecated_reason, p.downloads, p.recent_downloads, p.synced_at,
       r.url AS repo_url, r.stars, r.forks, r.open_issues, r.pushed_at, r.archived,
       s.score, s.popularity, s.maintenance, s.security, s.community, s.parts::text AS score_parts,
       (SELECT v.dependencies::text FROM versions v WHERE v.package_id = p.id AND v.number = p.latest_version)
           AS latest_dependencies,
       dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       l.versions AS version_list, l.total AS versions_total,
       p.advisories_synced_at,
       EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = p.ecosystem AND f.name = p.name)
           AS advisories_named,
       (SELECT a.as_of FROM advisory_imports a WHERE a.ecosystem = p.ecosystem) AS advisories_import_as_of
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k (ecosystem, name, lookup_index)
JOIN packages p ON p.ecosystem = k.ecosystem AND p.name = k.name
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_scores s ON s.package_id = p.id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
LEFT JOIN package_version_lists l ON l.package_id = p.id;

-- name: analyze_facts --
-- Fresh planner statistics for the package facts tables, after the sync wrote many packages.
ANALYZE packages, versions, dependencies, package_version_lists;

-- name: get_versions --
-- Every stored version of a package, newest publication first, in the order the stored version
-- lists keep (for a package stored before they were kept) ($1 package_id).
SELECT number, published_at, prerelease, yanked, yanked_reason, deprecated, deprecated_reason, licenses
FROM versions WHERE package_id = $1
ORDER BY published_at DESC NULLS LAST, number COLLATE "C" DESC;

-- name: record_requests --
-- Note many requested packages at once ($1 ecosystems, $2 names, $3 origin); an on-demand
-- fetch just found the package, so a remembered "not found" is dropped.
INSERT INTO package_requests AS r (ecosystem, name, origin)
SELECT t.ecosystem, t.name, $3 FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
ON CONFLICT (ecosystem, name) DO UPDATE SET
    request_count = r.request_count + 1,
    last_requested_at = now(),
    not_found_at = CASE WHEN $3 = 'on_demand' THEN NULL ELSE r.not_found_at END;

-- name: find_advisory --
-- The stored advisory whose id or alias is one of the given ids, canonical one first, with the
-- sources that described it so far ($1 ids).
SELECT a.id, a.sources FROM advisories a
WHERE a.id = ANY ($1::text[])
   OR EXISTS (SELECT 1 FROM advisory_aliases x WHERE x.advisory_id = a.id AND x.alias = ANY ($1::text[]))
ORDER BY (a.id = ANY ($1::text[])) DESC, a.published_at NULLS LAST, a.id
LIMIT 1;

-- name: upsert_advisory --
-- Insert or merge an advisory. New non-null facts win, unless $12 says a better source already
-- described it; then they only fill gaps. $1 id, $2 summary, $3 details, $4 severity_vector,
-- $5 severity_score, $6 severity, $7 published_at, $8 modified_at, $9 withdrawn_at,
-- $10 refs (jsonb list of URLs), $11 source, $12 prefer stored facts.
INSERT INTO advisories AS a (id, summary, details, severity_vector, severity_score, severity, published_at,
                             modified_at, withdrawn_at, refs, sources, synced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ARRAY[$11::text], now())
ON CONFLICT (id) DO UPDATE SET
    summary = CASE WHEN $12 THEN coalesce(a.summary, EXCLUDED.summary) ELSE coalesce(EXCLUDED.summary, a.summary) END,
    details = CASE WHEN $12 THEN coalesce(a.details, EXCLUDED.details) ELSE coalesce(EXCLUDED.details, a.details) END,
    -- The vector, score and label travel together so they never come from two sources.
    severity_vector = CASE WHEN $12 AND a.severity IS NOT NULL THEN a.severity_vector
                           ELSE coalesce(EXCLUDED.severity_vector, a.severity_vector) END,
    severity_score = CASE WHEN $12 AND a.severity IS NOT NULL THEN a.severity_score
                          ELSE coalesce(EXCLUDED.severity_score, a.severity_score) END,
    severity = CASE WHEN $12 AND a.severity IS NOT NULL THEN a.severity
                    ELSE coalesce(EXCLUDED.severity, a.severity) END,
    published_at = coalesce(a.published_at, EXCLUDED.published_at),
    modified_at = greatest(EXCLUDED.modified_at, a.modified_at),
    withdrawn_at = coalesce(EXCLUDED.withdrawn_at, a.withdrawn_at),
    refs = (SELECT coalesce(jsonb_agg(DISTINCT r), '[]'::jsonb)
            FROM jsonb_array_elements(a.refs || EXCLUDED.refs) AS r),
    sources = (SELECT array_agg(DISTINCT s ORDER BY s) FROM unnest(a.sources || EXCLUDED.sources) AS s),
    synced_at = now();

-- name: insert_aliases --
-- Add aliases to an advisory, ignoring ones already known ($1 advisory id, $2 aliases).
INSERT INTO advisory_aliases (advisory_id, alias)
SELECT $1, alias FROM unnest($2::text[]) AS alias WHERE alias <> $1
ON CONFLICT DO NOTHING;

-- name: delete_affected_from_source --
-- Drop what one source said an advisory affects in given packages, before rewriting it.
-- $1 advisory id, $2 source, $3 ecosystems, $4 names.
DELETE FROM advisory_affected f
USING unnest($3::text[], $4::text[]) AS p (ecosystem, name)
WHERE f.advisory_id = $1 AND f.source = $2 AND f.ecosystem = p.ecosystem AND f.name = p.name;

-- name: insert_affected --
-- Insert affected-package entries of one advisory. $1 advisory id, $2 source, $3 ecosystems,
-- $4 names, $5 ranges (one JSON array text per entry), $6 versions (one comma-joined string per entry),
-- $7 flags (one comma-joined string per entry).
INSERT INTO advisory_affected (advisory_id, source, ecosystem, name, ranges, versions, flags)
SELECT $1, $2, t.ecosystem, t.name, t.ranges::jsonb,
       coalesce(string_to_array(nullif(t.versions, ''), ','), '{}'),
       coalesce(string_to_array(nullif(t.flags, ''), ','), '{}')
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
     AS t (ecosystem, name, ranges, versions, flags);

-- name: package_advisories --
-- Every advisory entry about one package, with the advisory's facts ($1 ecosystem, $2 name).
SELECT a.id, a.summary, a.details, a.severity_vector, a.severity_score, a.severity, a.published_at,
       a.modified_at, a.withdrawn_at, a.refs, a.sources,
       coalesce((SELECT array_agg(x.alias ORDER BY x.alias) FROM advisory_aliases x WHERE x.advisory_id = a.id), '{}') AS aliases,
       f.source, f.ranges, f.versions, f.flags
FROM advisory_affected f
JOIN advisories a ON a.id = f.advisory_id
WHERE f.ecosystem = $1 AND f.name = $2
ORDER BY a.id, f.source;

-- name: record_advisory_import --
-- Note that an export covered an ecosystem up to a date; a later export only moves it forward
-- ($1 ecosystem, $2 as_of, $3 records read).
INSERT INTO advisory_imports (ecosystem, as_of, records) VALUES ($1, $2, $3)
ON CONFLICT (ecosystem) DO UPDATE SET
    as_of = greatest(advisory_imports.as_of, EXCLUDED.as_of), records = EXCLUDED.records, imported_at = now();

-- name: advisory_import_as_of --
-- The date of the newest imported export covering an ecosystem, or NULL ($1 ecosystem).
SELECT as_of FROM advisory_imports WHERE ecosystem = $1;

-- name: repository_validator --
-- The stored ETag of a repository ($1 url).
SELECT id, etag, synced_at FROM repositories WHERE url = $1;

-- name: upsert_repository --
-- Insert or update a repository's facts; returns its id. $1 url, $2 host, $3 owner, $4 name,
-- $5 description, $6 stars, $7 forks, $8 open_issues, $9 pushed_at, $10 archived, $11 disabled,
-- $12 license, $13 topics, $14 default_branch, $15 etag.
INSERT INTO repositories AS r (url, host, owner, name, description, stars, forks, open_issues, pushed_at,
                               archived, disabled, license, topics, default_branch, etag, synced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
ON CONFLICT (url) DO UPDATE SET
    host = EXCLUDED.host, owner = EXCLUDED.owner, name = EXCLUDED.name, description = EXCLUDED.description,
    stars = EXCLUDED.stars, forks = EXCLUDED.forks, open_issues = EXCLUDED.open_issues,
    pushed_at = EXCLUDED.pushed_at, archived = EXCLUDED.archived, disabled = EXCLUDED.disabled,
    license = EXCLUDED.license, topics = EXCLUDED.topics, default_branch = EXCLUDED.default_branch,
    etag = EXCLUDED.etag, synced_at = now(), sync_error = NULL
RETURNING id;

-- name: touch_repository --
-- Mark a repository as checked and unchanged ($1 url).
UPDATE repositories SET synced_at = now(), sync_error = NULL WHERE url = $1 RETURNING id;

-- name: link_repository --
-- Point every package with this repository URL at the stored repository ($1 repository id, $2 url).
UPDATE packages SET repository_id = $1 WHERE repository_url = $2 AND repository_id IS DISTINCT FROM $1;

-- name: package_advisory_state --
-- Whether a package is stored and when its advisories were fetched ($1 ecosystem, $2 name).
SELECT advisories_synced_at FROM packages WHERE ecosystem = $1 AND name = $2;

-- name: try_sync_lock --
-- Try to take the sync advisory lock for this session, without waiting ($1 lock key).
SELECT pg_try_advisory_lock($1);

-- name: unlock_sync --
-- Release the sync advisory lock ($1 lock key).
SELECT pg_advisory_unlock($1);

-- name: sync_due --
-- Packages in use (requested since $3, reported, or runtime dependencies of those down to depth
-- $1) that were not synced since $2, shallowest first; names the registry reported as not found
-- since $4 are skipped, and of requested names never stored, only the $5 most requested come.
WITH due AS (
    SELECT u.ecosystem, u.name, u.depth,
           (p.id IS NULL AND u.depth = 0 AND r.ecosystem IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM team_direct(ARRAY[u.ecosystem], ARRAY[u.name]))) AS unknown,
           r.request_count, r.last_requested_at
    FROM used_packages($3, $1) u
    LEFT JOIN packages p ON p.ecosystem = u.ecosystem AND p.name = u.name
    LEFT JOIN package_requests r ON r.ecosystem = u.ecosystem AND r.name = u.name
    WHERE (p.synced_at IS NULL OR p.synced_at < $2)
      AND (r.not_found_at IS NULL OR r.not_found_at < $4)
), ranked AS (
    SELECT due.*, row_number() OVER (
        PARTITION BY due.unknown ORDER BY due.request_count DESC NULLS LAST, due.last_requested_at DESC NULLS LAST,
                                          due.ecosystem, due.name) AS place
    FROM due
)
SELECT ranked.ecosystem, ranked.name, ranked.depth
FROM ranked
WHERE NOT ranked.unknown OR ranked.place <= $5
ORDER BY ranked.depth, ranked.ecosystem, ranked.name;

-- name: remember_not_found --
-- The registry does not know these requested names ($1 ecosystems, $2 names); the sync skips
-- them for a while. A name fetched successfully later is forgotten by record_requests.
UPDATE package_requests r SET not_found_at = now()
FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
WHERE r.ecosystem = t.ecosystem AND r.name = t.name;

-- name: packages_synced_since --
-- Which of these packages were stored or checked at or after $3 ($1 ecosystems, $2 names).
SELECT p.ecosystem, p.name FROM packages p
JOIN unnest($1::text[], $2::text[]) AS t (ecosystem, name) ON p.ecosystem = t.ecosystem AND p.name = t.name
WHERE p.synced_at >= $3;

-- name: create_sync_run --
-- Start a run record; returns id and started_at ($1 trigger, $2 scheduled_for, $3 requested packages).
INSERT INTO sync_runs (trigger, scheduled_for, requested) VALUES ($1, $2, $3) RETURNING id, started_at;

-- name: last_scheduled_tick --
-- The tick of the newest scheduled run, whatever its state.
SELECT max(scheduled_for) FROM sync_runs WHERE trigger = 'schedule';

-- name: stale_running_run --
-- The newest run still marked running (its process died if nobody holds the lock).
SELECT id, trigger, scheduled_for, requested, started_at, total, counts
FROM sync_runs WHERE state = 'running' ORDER BY id DESC LIMIT 1;

-- name: interrupt_other_runs --
-- Mark runs left running by dead processes as interrupted, except the one being resumed ($1 id or 0).
UPDATE sync_runs SET state = 'interrupted', finished_at = now()
WHERE state = 'running' AND id <> $1;

-- name: update_sync_progress --
-- Record progress of a running run ($1 id, $2 total, $3 counts, $4 phase).
UPDATE sync_runs SET total = $2, counts = $3, phase = $4 WHERE id = $1;

-- name: finish_sync_run --
-- Close a run ($1 id, $2 state, $3 total, $4 counts, $5 error).
UPDATE sync_runs SET state = $2, total = $3, counts = $4, error = $5, phase = NULL, finished_at = now() WHERE id = $1;

-- name: record_sync_failure --
-- One package that failed in a run ($1 run id, $2 ecosystem, $3 name, $4 source, $5 reason).
INSERT INTO sync_failures (run_id, ecosystem, name, source, reason) VALUES ($1, $2, $3, $4, $5);

-- name: mark_sync_error --
-- Keep a package's last sync error with it ($1 ecosystem, $2 name, $3 reason).
UPDATE packages SET sync_error = $3 WHERE ecosystem = $1 AND name = $2;

-- name: list_sync_runs --
-- The newest runs ($1 limit).
SELECT id, state, phase, trigger, scheduled_for, requested, started_at, finished_at, total, counts, error
FROM sync_runs ORDER BY id DESC LIMIT $1;

-- name: get_sync_run --
-- One run by id ($1 id).
SELECT id, state, phase, trigger, scheduled_for, requested, started_at, finished_at, total, counts, error
FROM sync_runs WHERE id = $1;

-- name: list_sync_failures --
-- Failures of one run, oldest first ($1 run id, $2 limit).
SELECT ecosystem, name, source, reason, failed_at FROM sync_failures WHERE run_id = $1 ORDER BY failed_at LIMIT $2;

-- name: advisory_modified --
-- Stored modification times of advisories by id or alias ($1 ids).
SELECT a.id, a.modified_at, x.alias
FROM advisories a LEFT JOIN advisory_aliases x ON x.advisory_id = a.id
WHERE a.id = ANY ($1::text[]) OR x.alias = ANY ($1::text[]);

-- name: mark_many_advisories_synced --
-- Note that the advisories of many packages were fetched ($1 ecosystems, $2 names).
UPDATE packages p SET advisories_synced_at = now()
FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
WHERE p.ecosystem = t.ecosystem AND p.name = t.name;

-- name: stale_repositories --
-- Repository URLs of the given packages not refreshed since $3 ($1 ecosystems, $2 names, $3 cutoff).
SELECT DISTINCT p.repository_url
FROM packages p
JOIN unnest($1::text[], $2::text[]) AS t (ecosystem, name) ON p.ecosystem = t.ecosystem AND p.name = t.name
LEFT JOIN repositories r ON r.id = p.repository_id
WHERE p.repository_url IS NOT NULL AND (r.synced_at IS NULL OR r.synced_at < $3);

-- name: quality_signals --
-- Everything the quality score needs, for every stored package of the given ecosystems ($1 ecosystems).
-- npm and PyPI counts come from package_downloads: the last month stands for the recent window.
-- The team's instances come from the pattern recompute (package_usage), which runs just before.
SELECT p.id, p.ecosystem, p.name, p.latest_version, coalesce(p.downloads, dl.total) AS downloads,
       coalesce(p.recent_downloads, dl.last_month) AS recent_downloads, p.deprecated,
       EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = p.ecosystem AND f.name = p.name) AS has_advisories,
       p.repository_url IS NOT NULL AS has_repository, cardinality(p.licenses) > 0 AS has_license,
       p.documentation_url IS NOT NULL AS has_documentation,
       r.stars, r.forks, r.open_issues, r.archived,
       (SELECT array_agg(v.published_at ORDER BY v.published_at)
        FROM versions v WHERE v.package_id = p.id AND NOT v.prerelease AND NOT v.yanked AND v.published_at IS NOT NULL) AS releases,
       (SELECT count(DISTINCT d.package_id) FROM dependencies d
        WHERE d.ecosystem = p.ecosystem AND d.name = p.name AND d.package_id <> p.id) AS dependents,
       coalesce((SELECT u.instances FROM reported_packages k JOIN package_usage u ON u.package_id = k.id
                 WHERE k.ecosystem = p.ecosystem AND k.name = p.name), 0) AS instances
FROM packages p
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
WHERE p.ecosystem = ANY ($1::text[]);

-- name: upsert_scores --
-- Store many quality scores at once. $1 package ids, $2 scores, $3 popularity, $4 maintenance,
-- $5 security, $6 community, $7 parts (one JSON object text per package). A score that came out
-- as stored is left alone (rewriting it would only leave a dead row behind), so computed_at says
-- when the score last changed.
INSERT INTO package_scores AS s (package_id, score, popularity, maintenance, security, community, parts, computed_at)
SELECT t.id, t.score, t.popularity, t.maintenance, t.security, t.community, t.parts::jsonb, now()
FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::text[])
     AS t (id, score, popularity, maintenance, security, community, parts)
ON CONFLICT (package_id) DO UPDATE SET
    score = EXCLUDED.score, popularity = EXCLUDED.popularity, maintenance = EXCLUDED.maintenance,
    security = EXCLUDED.security, community = EXCLUDED.community, parts = EXCLUDED.parts,
    computed_at = now()
WHERE (s.score, s.popularity, s.maintenance, s.security, s.community, s.parts)
      IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.popularity, EXCLUDED.maintenance, EXCLUDED.security,
                        EXCLUDED.community, EXCLUDED.parts);

-- name: forget_stale_requests --
-- Drop requests nobody repeated within the retention ($1 cutoff).
DELETE FROM package_requests WHERE last_requested_at < $1;

-- name: cleanup_packages --
-- Remove packages created before the cutoff that are no longer in use (not requested since the
-- cutoff, not reported, not a dependency of either within depth $2); returns what was removed.
DELETE FROM packages p
WHERE p.created_at < $1
  AND NOT EXISTS (SELECT 1 FROM used_packages($1, $2) u WHERE u.ecosystem = p.ecosystem AND u.name = p.name)
RETURNING p.ecosystem, p.name;

-- name: cleanup_advisories --
-- Remove advisories about no stored package that were not refreshed since the cutoff ($1 cutoff).
DELETE FROM advisories a
WHERE a.synced_at < $1
  AND NOT EXISTS (SELECT 1 FROM advisory_affected f JOIN packages p ON p.ecosystem = f.ecosystem AND p.name = f.name
                  WHERE f.advisory_id = a.id)
RETURNING a.id;

-- name: cleanup_repositories --
-- Remove repositories no package points at.
DELETE FROM repositories r WHERE NOT EXISTS (SELECT 1 FROM packages p WHERE p.repository_id = r.id) RETURNING r.id;

-- name: package_repository_url --
-- A package's repository URL ($1 ecosystem, $2 name).
SELECT repository_url FROM packages WHERE ecosystem = $1 AND name = $2;

-- name: version_numbers --
-- Every stored version number of the given packages of one ecosystem ($1 ecosystem, $2 names).
SELECT p.name, array_agg(v.number ORDER BY v.id) AS numbers
FROM packages p JOIN versions v ON v.package_id = p.id
WHERE p.ecosystem = $1 AND p.name = ANY ($2::text[])
GROUP BY p.name;

-- name: trigram_available --
-- Whether the server ships the pg_trgm extension.
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm');

-- name: trigram_installed --
-- Whether pg_trgm is installed in this database.
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm');

-- name: install_trigram --
-- Install pg_trgm (a trusted extension: database owners may install it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- name: validators_many --
-- Conditional-request validators of many packages at once ($1 ecosystems, $2 names).
SELECT p.ecosystem, p.name, p.etag, p.last_modified
FROM packages p JOIN unnest($1::text[], $2::text[]) AS t (ecosystem, name)
     ON p.ecosystem = t.ecosystem AND p.name = t.name;

-- name: touch_packages --
-- Mark many packages as checked and unchanged ($1 ecosystems, $2 names).
UPDATE packages p SET synced_at = now(), sync_error = NULL
FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
WHERE p.ecosystem = t.ecosystem AND p.name = t.name;

-- name: advisory_fix_days --
-- For each package and past advisory: days from the advisory's publication to the first release
-- that fixed it (0 when the fix came first, as with coordinated disclosure) ($1 ecosystems).
SELECT p.id AS package_id, greatest(extract(epoch FROM min(v.published_at) - a.published_at) / 86400, 0) AS days
FROM advisory_affected f
JOIN advisories a ON a.id = f.advisory_id AND a.published_at IS NOT NULL AND a.withdrawn_at IS NULL
JOIN packages p ON p.ecosystem = f.ecosystem AND p.name = f.name
CROSS JOIN LATERAL jsonb_array_elements(f.ranges) AS r
CROSS JOIN LATERAL jsonb_array_elements(r -> 'events') AS e
JOIN versions v ON v.package_id = p.id AND v.number = e ->> 'fixed' AND v.published_at IS NOT NULL
WHERE p.ecosystem = ANY ($1::text[])
GROUP BY p.id, a.id;

-- ===== Download counts (npm's downloads API, pypistats) =====

-- name: downloads_due --
-- The given packages whose download counts or weekly series are due, with the validators to send.
-- $1 ecosystems, $2 names, $3 counts fetched before this are due, $4 series fetched before this are due.
SELECT p.id, p.ecosystem, p.name, d.etag, d.weekly_etag,
       (d.fetched_at IS NULL OR d.fetched_at < $3) AS counts_due,
       (d.weekly_fetched_at IS NULL OR d.weekly_fetched_at < $4) AS series_due
FROM packages p
JOIN unnest($1::text[], $2::text[]) AS t (ecosystem, name) ON p.ecosystem = t.ecosystem AND p.name = t.name
LEFT JOIN package_downloads d ON d.package_id = p.id
WHERE d.package_id IS NULL OR d.fetched_at IS NULL OR d.fetched_at < $3
   OR d.weekly_fetched_at IS NULL OR d.weekly_fetched_at < $4
ORDER BY p.ecosystem, p.name;

-- name: save_download_counts --
-- Store fetched counts of many packages ($1 package ids, $2 source, $3 last_week, $4 last_month,
-- $5 total, $6 etags, $7 when fetched); a NULL count is one the source does not give.
-- The package row keeps a yearly estimate (npm and PyPI give no all-time total: a year at the last
-- month's pace stands in), which search's popularity prior reads without a join.
WITH saved AS (
    INSERT INTO package_downloads AS d (package_id, source, last_week, last_month, total, etag, fetched_at)
    SELECT t.id, $2, t.last_week, t.last_month, t.total, t.etag, $7
    FROM unnest($1::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
         AS t (id, last_week, last_month, total, etag)
    ON CONFLICT (package_id) DO UPDATE SET
        source = EXCLUDED.source, last_week = EXCLUDED.last_week, last_month = EXCLUDED.last_month,
        total = EXCLUDED.total, etag = EXCLUDED.etag, fetched_at = EXCLUDED.fetched_at
    RETURNING package_id, coalesce(total, 12 * last_month) AS estimate
)
UPDATE packages p SET downloads_estimate = s.estimate
FROM saved s
WHERE p.id = s.package_id AND p.downloads_estimate IS DISTINCT FROM s.estimate;

-- name: save_download_series --
-- Store the weekly series of many packages ($1 package ids, $2 source, $3 series as array
-- literal texts such as '{1,2,3}', oldest week first, $4 the day each series ends, $5 etags,
-- $6 when fetched).
INSERT INTO package_downloads AS d (package_id, source, weekly, weekly_end, weekly_etag, weekly_fetched_at)
SELECT t.id, $2, t.weekly::bigint[], t.weekly_end, t.etag, $6
FROM unnest($1::bigint[], $3::text[], $4::date[], $5::text[]) AS t (id, weekly, weekly_end, etag)
ON CONFLICT (package_id) DO UPDATE SET
    source = EXCLUDED.source, weekly = EXCLUDED.weekly, weekly_end = EXCLUDED.weekly_end,
    weekly_etag = EXCLUDED.weekly_etag, weekly_fetched_at = EXCLUDED.weekly_fetched_at;

-- name: touch_download_counts --
-- Counts found unchanged (the source answered 304) ($1 package ids, $2 when checked).
UPDATE package_downloads SET fetched_at = $2 WHERE package_id = ANY ($1::bigint[]);

-- name: touch_download_series --
-- Series found unchanged (the source answered 304) ($1 package ids, $2 when checked).
UPDATE package_downloads SET weekly_fetched_at = $2 WHERE package_id = ANY ($1::bigint[]);

-- ---- answers (recommend, recommendations, dependencies, dependents, frameworks) -------------

-- name: answer_versions --
-- Every stored version of some packages of one ecosystem with what the answers need, and the
-- packages' own flags ($1 ecosystem, $2 names, $3 with each version's dependencies and features,
-- as JSON text); no rows for a package not stored.
SELECT p.name, p.display_name, p.latest_version, p.deprecated AS package_deprecated, p.description,
       p.keywords, p.classifiers, p.peer_frameworks,
       v.number, v.published_at, v.prerelease, v.yanked, v.yanked_reason, v.deprecated,
       v.deprecated_reason, v.requires_runtime, v.metadata_url,
       CASE WHEN $3::boolean THEN v.dependencies::text END AS dependencies,
       CASE WHEN $3::boolean THEN v.features::text END AS features
FROM packages p JOIN versions v ON v.package_id = p.id
WHERE p.ecosystem = $1 AND p.name = ANY ($2::text[])
ORDER BY p.name;

-- name: team_instances --
-- Distinct instances and projects of the team using each package directly ($1 ecosystems, $2 names).
SELECT i.ecosystem, i.name, count(DISTINCT i.instance_id) AS instances, count(DISTINCT i.project_id) AS projects
FROM team_direct($1::text[], $2::text[]) AS i
GROUP BY i.ecosystem, i.name;

-- name: recommendation_candidates --
-- The ranking signals of some packages for a need (the search's bounded candidates, never every
-- match): how the need's words match name, keywords, description and categories, quality, stars,
-- advisories, and the names its latest version depends on (not for development).
-- $1 tsquery text (terms OR-ed), $2 the same terms AND-ed, $3 ecosystems, $4 names.
WITH q AS (
    SELECT to_tsquery('simple', $1) || to_tsquery('english', $1) AS any_terms,
           to_tsquery('simple', $2) || to_tsquery('english', $2) AS all_terms
)
SELECT p.ecosystem, p.name, p.description, p.latest_version,
       -- npm and PyPI give no all-time total: the yearly estimate from their download counters stands in.
       coalesce(p.downloads, p.downloads_estimate) AS downloads, p.deprecated,
       p.discovered_at IS NOT NULL AS discovered,
       ts_rank_cd(p.search_vector, q.any_terms, 32) AS text_rank, p.search_vector @@ q.all_terms AS every_word,
       r.stars, r.archived, s.score,
       p.advisories_synced_at IS NOT NULL AS advisories_checked,
       EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = p.ecosystem AND f.name = p.name) AS has_advisories,
       (SELECT v.published_at FROM versions v WHERE v.package_id = p.id AND v.number = p.latest_version)
           AS latest_published_at,
       -- The dependency rows are the latest version's.
       ARRAY(SELECT DISTINCT d.name FROM dependencies d
             WHERE d.package_id = p.id AND d.kind <> 'dev' AND d.ecosystem = p.ecosystem) AS dependency_names
FROM unnest($3::text[], $4::text[]) AS t (ecosystem, name)
JOIN packages p ON p.ecosystem = t.ecosystem AND p.name = t.name
CROSS JOIN q
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_scores s ON s.package_id = p.id;

-- name: mark_discovered --
-- Mark packages stored because a registry's search found them, unless they were stored before
-- for use ($1 ecosystems, $2 names).
UPDATE packages p SET discovered_at = now()
FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
WHERE p.ecosystem = t.ecosystem AND p.name = t.name AND p.discovered_at IS NULL
  AND p.created_at > now() - interval '1 minute';

-- name: dependents_of --
-- Stored packages whose latest version declares a dependency on one package ($1 ecosystem, $2 name).
SELECT p.name, p.latest_version, d.requirement, d.kind, d.optional
FROM dependencies d
JOIN packages p ON p.id = d.package_id
WHERE d.ecosystem = $1 AND d.name = $2 AND NOT (p.ecosystem = $1 AND p.name = $2)
ORDER BY p.name;

-- name: team_use_transitive --
-- The team's instances and projects using one package directly or through the stored latest
-- dependencies of what they report, to depth $3 ($1 ecosystem, $2 name).
WITH RECURSIVE up (ecosystem, name, depth) AS (
    SELECT $1::text, $2::text, 0
    UNION
    SELECT p.ecosystem, p.name, up.depth + 1
    FROM up
    JOIN dependencies d ON d.ecosystem = up.ecosystem AND d.name = up.name AND d.kind <> 'dev'
    JOIN packages p ON p.id = d.package_id
    WHERE up.depth < $3
)
SELECT count(DISTINCT i.instance_id) FILTER (WHERE i.ecosystem = $1 AND i.name = $2) AS direct_instances,
       count(DISTINCT i.project_id) FILTER (WHERE i.ecosystem = $1 AND i.name = $2) AS direct_projects,
       count(DISTINCT i.instance_id) AS instances,
       count(DISTINCT i.project_id) AS projects
FROM team_direct((SELECT array_agg(ecosystem) FROM up), (SELECT array_agg(name) FROM up)) AS i;

-- name: framework_plugins --
-- Stored packages plugging into a framework: npm packages declaring it as a peer, PyPI packages
-- with its `Framework :: <Name>` classifier, crates and hex packages depending on it with its name
-- among their keywords ($1 ecosystem, $2 name, $3 the classifier prefix in lower case, $4 limit).
SELECT p.ecosystem, p.name, p.description, p.latest_version, p.downloads,
       CASE WHEN $2 = ANY (p.peer_frameworks) THEN 'peer'
            WHEN $1 = 'pypi' THEN 'classifier' ELSE 'keyword' END AS how
FROM packages p
WHERE p.ecosystem = $1 AND p.name <> $2 AND (
      ($1 = 'npm' AND p.peer_frameworks @> ARRAY[$2::text])
   OR ($1 = 'pypi' AND EXISTS (SELECT 1 FROM unnest(p.classifiers) c
                               WHERE lower(c) = $3 OR lower(c) LIKE $3 || ' ::%'))
   OR ($1 IN ('cargo', 'hex') AND $2 = ANY (p.keywords) AND EXISTS (
          SELECT 1 FROM dependencies d WHERE d.package_id = p.id AND d.ecosystem = $1 AND d.name = $2)))
ORDER BY p.downloads DESC NULLS LAST, p.name
LIMIT $4;

-- name: framework_plugin_counts --
-- How many stored packages plug into each of the given packages, as in framework_plugins; the
-- classifier is spelled with the stored display name, else the name ($1 ecosystems, $2 names).
WITH t AS (
    SELECT u.ecosystem, u.name,
           'framework :: ' || lower(coalesce(
               (SELECT f.display_name FROM packages f WHERE f.ecosystem = u.ecosystem AND f.name = u.name), u.name)) AS prefix
    FROM unnest($1::text[], $2::text[]) AS u (ecosystem, name)
)
SELECT t.ecosystem, t.name, (
    SELECT count(*) FROM packages p
    WHERE p.ecosystem = t.ecosystem AND p.name <> t.name AND (
          (t.ecosystem = 'npm' AND p.peer_frameworks @> ARRAY[t.name])
       OR (t.ecosystem = 'pypi' AND EXISTS (SELECT 1 FROM unnest(p.classifiers) c
                                           WHERE lower(c) = t.prefix OR lower(c) LIKE t.prefix || ' ::%'))
       OR (t.ecosystem IN ('cargo', 'hex') AND t.name = ANY (p.keywords) AND EXISTS (
              SELECT 1 FROM dependencies d
              WHERE d.package_id = p.id AND d.ecosystem = t.ecosystem AND d.name = t.name)))
) AS plugins
FROM t;

-- name: team_projects_with --
-- Every (instance, project) of the team with its direct dependencies, for the projects that use
-- one package ($1 ecosystem, $2 name); co-usage is counted over them and over team_project_count.
SELECT i.instance_id, i.project, array_agg(i.ecosystem || ':' || i.name) AS items
FROM team_dependencies i
WHERE i.project_id IN (SELECT u.project_id FROM team_direct(ARRAY[$1::text], ARRAY[$2::text]) AS u)
GROUP BY i.instance_id, i.project;

-- name: team_item_projects --
-- Projects of the team using each package directly, and all projects with a direct dependency
-- ($1 ecosystems, $2 names).
SELECT t.ecosystem, t.name,
       (SELECT count(DISTINCT i.project_id) FROM team_direct(ARRAY[t.ecosystem], ARRAY[t.name]) AS i) AS projects,
       (SELECT count(*) FROM reported_projects rp WHERE true = ANY (rp.directs)) AS total
FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name);

-- name: save_version_details --
-- What a per-release fetch learned about one stored version: its dependencies (JSON array text of
-- Dependency objects) and runtime requirement ($1 ecosystem, $2 name, $3 number, $4 dependencies,
-- $5 requires_runtime); a value not given keeps what is stored.
UPDATE versions v
SET dependencies = coalesce($4::text::json, v.dependencies),
    requires_runtime = coalesce($5, v.requires_runtime)
FROM packages p
WHERE p.id = v.package_id AND p.ecosystem = $1 AND p.name = $2 AND v.number = $3;

-- ---------------------------------------------------------------------------------------------
-- Search (centralcloud/search.py). A bounded candidate set is ranked, never every match: the
-- most popular matches, found either by walking packages in popularity order (common words)
-- or through the GIN index (rarer words), plus exact name matches. Ranking reads only the
-- searched row (stars and the popularity prior are kept in it).
-- ---------------------------------------------------------------------------------------------

-- name: search_ranked --
-- Ranked search hits. $1 query words, $2 candidates match every word as written (else any word,
-- or its beginning), $3 walk in popularity order (else use the GIN index), $4 ecosystem or NULL,
-- $5 candidates to rank, $6 names that count as exact matches, $7 ecosystems searched, $8 limit.
WITH q AS MATERIALIZED (
    SELECT search_query($1::text[], true, true) AS all_terms, search_query($1::text[], false, true) AS any_terms
), wanted AS MATERIALIZED (
    SELECT CASE WHEN $2::boolean THEN search_query($1::text[], true, false) ELSE q.any_terms END AS terms FROM q
), walked AS (
    -- ts_match_vq is @@ by another name, which keeps the planner off the GIN index here.
    SELECT p.id FROM packages p
    WHERE $3::boolean AND ($4::text IS NULL OR p.ecosystem = $4)
      AND ts_match_vq(p.search_vector, (SELECT terms FROM wanted))
    ORDER BY p.search_prior DESC
    LIMIT $5
), looked_up AS (
    -- "+ 0" keeps the planner off the popularity index: every match is read, then sorted.
    SELECT p.id FROM packages p
    WHERE NOT $3::boolean AND ($4::text IS NULL OR p.ecosystem = $4)
      AND p.search_vector @@ (SELECT terms FROM wanted)
    ORDER BY p.search_prior + 0 DESC
    LIMIT $5
), named AS (
    SELECT p.id FROM packages p WHERE p.ecosystem = ANY ($7::text[]) AND p.name = ANY ($6::text[])
), candidates AS (
    SELECT id FROM walked UNION SELECT id FROM looked_up UNION SELECT id FROM named
)
SELECT p.ecosystem, p.name, p.description, p.latest_version, p.licenses, p.repository_url, p.downloads,
       p.recent_downloads, dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       p.stars, p.deprecated, p.name = ANY ($6::text[]) AS exact,
       -- Text relevance, a bonus for matching every word, times the popularity prior.
       (ts_rank_cd(p.search_vector, q.any_terms, 32) + CASE WHEN p.search_vector @@ q.all_terms THEN 1.0 ELSE 0 END)
       * p.search_prior AS rank
FROM candidates c
JOIN packages p ON p.id = c.id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
CROSS JOIN q
ORDER BY exact DESC, rank DESC, p.name
LIMIT $8;

-- name: search_lexeme_frequencies --
-- The share of packages holding each of the commonest lexemes (from ANALYZE), and the number
-- of packages, for choosing how to search.
SELECT coalesce(s.most_common_elems::text::text[], '{}') AS lexemes,
       coalesce(s.most_common_elem_freqs, '{}') AS frequencies,
       (SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = 'packages'::regclass) AS packages
FROM (SELECT 1) AS one
LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'packages' AND s.attname = 'search_vector';

-- name: search_packages_fuzzy --
-- Packages whose name is close to the query (pg_trgm only; used where full text finds too few).
-- $1 query words joined by spaces, $2 ecosystem or NULL, $3 limit.
SELECT p.ecosystem, p.name, p.description, p.latest_version, p.licenses, p.repository_url, p.downloads,
       p.recent_downloads, dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       p.stars, p.deprecated, false AS exact, similarity(p.name, $1) * 0.5 AS rank
FROM packages p
LEFT JOIN package_downloads dl ON dl.package_id = p.id
WHERE ($2::text IS NULL OR p.ecosystem = $2) AND similarity(p.name, $1) > 0.3
ORDER BY rank DESC, p.name
LIMIT $3;

-- name: search_named --
-- Hits for packages found by name in the in-memory name index ($1 ecosystems, $2 names).
SELECT p.ecosystem, p.name, p.description, p.latest_version, p.licenses, p.repository_url, p.downloads,
       p.recent_downloads, dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       p.stars, p.deprecated, false AS exact, p.search_prior AS rank
FROM packages p JOIN unnest($1::text[], $2::text[]) AS t (ecosystem, name)
     ON p.ecosystem = t.ecosystem AND p.name = t.name
LEFT JOIN package_downloads dl ON dl.package_id = p.id;

-- name: search_all_names --
-- Every stored package's ecosystem and name, for the in-memory name index.
SELECT ecosystem, name FROM packages;

-- name: ping --
-- A trivial answer, for health checks.
SELECT 1;

-- ---------------------------------------------------------------------------------------------
-- Pattern knowledge (issue 8): reports, aggregates, answers, alerts.

-- name: touch_identical_reports --
-- Re-sends whose raw body equals the project's last one: only "last seen" moves, on the project
-- row and once per instance ($1 instances, $2 body digests, $3 stream sequences); returns the
-- sequences applied (a message applied already, or a changed body, returns none).
-- Rows another batch holds are skipped, never waited for (that could deadlock with it): a
-- report so skipped is applied the usual way, which waits its turn.
WITH target AS (
    SELECT rp.id, t.seq
    FROM reported_projects rp
    JOIN unnest($1::text[], $2::bytea[], $3::bigint[]) AS t (instance_id, body_digest, seq)
      ON rp.instance_id = t.instance_id AND rp.body_digest = t.body_digest AND rp.stream_seq < t.seq
    FOR UPDATE OF rp SKIP LOCKED
), touched AS (
    UPDATE reported_projects rp SET last_reported_at = now(), stream_seq = target.seq
    FROM target WHERE rp.id = target.id
    RETURNING rp.instance_id, target.seq
), seen AS (
    UPDATE instances i SET last_seen_at = now()
    FROM (SELECT s.id FROM instances s WHERE s.id IN (SELECT touched.instance_id FROM touched)
          FOR UPDATE SKIP LOCKED) AS free
    WHERE i.id = free.id
)
SELECT touched.seq FROM touched;


-- name: touch_instances --
-- Note instances as seen now, creating new ones, in one order so concurrent batches never deadlock ($1 instances).
INSERT INTO instances (id) SELECT DISTINCT t.id FROM unnest($1::text[]) AS t (id) ORDER BY t.id
ON CONFLICT (id) DO UPDATE SET last_seen_at = now();


-- name: reported_package_ids --
-- Ids of reported packages, creating the missing ones ($1 ecosystems, $2 names).
WITH wanted AS (SELECT DISTINCT t.ecosystem, t.name FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)),
created AS (
    INSERT INTO reported_packages (ecosystem, name)
    SELECT w.ecosystem, w.name FROM wanted w ORDER BY w.ecosystem, w.name
    ON CONFLICT (ecosystem, name) DO NOTHING
    RETURNING id, ecosystem, name
)
SELECT c.id, c.ecosystem, c.name FROM created c
UNION ALL
SELECT k.id, k.ecosystem, k.name FROM reported_packages k JOIN wanted w ON w.ecosystem = k.ecosystem AND w.name = k.name;

-- name: apply_report --
-- Make a decoded report the project's current set, writing only the differences (migration 0014):
-- $1 instance, $2 project, $3 set digest, $4 body digest, $5 format, $6 stream sequence,
-- $7 dependency count, $8 rejected entries, $9 first rejects as JSON, $10 package ids, $11 versions
-- ('' for none), $12 requirements, $13 kinds, $14 direct flags, $15 pattern kinds, $16 pattern names.
-- The five dependency arrays come as array literals (text), which PostgreSQL parses at C speed.
SELECT outcome, project_id
FROM apply_report($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::text::bigint[], $11::text::text[],
                  $12::text::text[], $13::text::text[], $14::text::boolean[], $15::text[], $16::text[]);


-- name: record_rejected_report --
-- A report that could not be used; a redelivered message is recorded once ($1 stream sequence,
-- $2 message id, $3 instance, $4 project, $5 reason, $6 detail).
INSERT INTO rejected_reports (stream_seq, message_id, instance_id, project, reason, detail)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (stream_seq) DO NOTHING;

-- name: unknown_reported_packages --
-- Reported packages of tracked ecosystems not stored yet ($1 ecosystems, $2 names).
SELECT t.ecosystem, t.name FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
WHERE NOT EXISTS (SELECT 1 FROM packages p WHERE p.ecosystem = t.ecosystem AND p.name = t.name);

-- name: package_usage --
-- Who uses one package, as of the last recompute ($1 ecosystem, $2 name): no row if never reported.
SELECT k.id, k.first_seen_at, coalesce(u.instances, 0) AS instances, coalesce(u.projects, 0) AS projects,
       coalesce(u.direct_instances, 0) AS direct_instances, u.last_seen_at AS last_seen,
       coalesce(u.versions, '[]'::jsonb) AS versions,
       coalesce(u.added_30d, 0) AS added, coalesce(u.dropped_30d, 0) AS dropped
FROM reported_packages k
LEFT JOIN package_usage u ON u.package_id = k.id
WHERE k.ecosystem = $1 AND k.name = $2;


-- name: prune_pattern_events --
-- Forget adds and drops older than the trend window ($1 oldest time kept).
WITH usage AS (DELETE FROM usage_events WHERE at < $1)
DELETE FROM pattern_events WHERE at < $1;


-- name: pairs_of_package --
-- The strongest pairs of one package shared by at least $2 instances ($1 package id, $2 minimum
-- instances, $3 limit), with the counts every measure is computed from. Each side is read in
-- index order (a, npmi) or (b, npmi), so a popular package does not sort all its pairs.
WITH strongest AS (
    (SELECT pp.b AS other, pp.projects, pp.instances, pp.npmi FROM package_pairs pp
     WHERE pp.a = $1 AND pp.instances >= $2 ORDER BY pp.npmi DESC, pp.projects DESC LIMIT $3)
    UNION ALL
    (SELECT pp.a, pp.projects, pp.instances, pp.npmi FROM package_pairs pp
     WHERE pp.b = $1 AND pp.instances >= $2 ORDER BY pp.npmi DESC, pp.projects DESC LIMIT $3)
)
SELECT k.ecosystem, k.name, s.projects, s.instances,
       ua.direct_projects AS a, ub.direct_projects AS b, st.transactions
FROM strongest s
JOIN reported_packages k ON k.id = s.other
JOIN package_usage ua ON ua.package_id = $1
JOIN package_usage ub ON ub.package_id = s.other
CROSS JOIN pattern_state st
ORDER BY s.npmi DESC, s.projects DESC, k.ecosystem, k.name
LIMIT $3;


-- name: popular_packages --
-- The packages most instances use directly, with their trend, as of the last recompute
-- ($1 ecosystem or NULL, $2 minimum instances, $3 limit).
SELECT k.id, k.ecosystem, k.name, u.direct_instances AS instances, u.direct_projects AS projects,
       u.added_30d AS added, u.dropped_30d AS dropped
FROM package_usage u JOIN reported_packages k ON k.id = u.package_id
WHERE u.direct_instances >= $2 AND ($1::text IS NULL OR k.ecosystem = $1)
ORDER BY u.direct_instances DESC, u.direct_projects DESC, k.ecosystem, k.name
LIMIT $3;


-- name: popular_pairs --
-- The pairs most projects share ($1 ecosystem or NULL, $2 minimum instances, $3 limit).
SELECT ka.ecosystem AS a_ecosystem, ka.name AS a_name, kb.ecosystem AS b_ecosystem, kb.name AS b_name,
       pp.projects, pp.instances, ua.direct_projects AS a, ub.direct_projects AS b, s.transactions
FROM package_pairs pp
JOIN reported_packages ka ON ka.id = pp.a
JOIN reported_packages kb ON kb.id = pp.b
JOIN package_usage ua ON ua.package_id = pp.a
JOIN package_usage ub ON ub.package_id = pp.b
CROSS JOIN pattern_state s
WHERE pp.instances >= $2 AND ($1::text IS NULL OR ka.ecosystem = $1 OR kb.ecosystem = $1)
ORDER BY pp.projects DESC, pp.instances DESC, pp.npmi DESC, ka.ecosystem, ka.name, kb.ecosystem, kb.name
LIMIT $3;

-- name: popular_patterns --
-- The learned patterns most instances show, with their 30-day trend ($1 minimum instances, $2 limit, $3 since).
SELECT l.kind, l.name, l.projects, l.instances, l.associated, l.first_seen_at, l.last_seen_at,
       (SELECT count(DISTINCT e.instance_id) FROM pattern_events e
        WHERE e.kind = l.kind AND e.name = l.name AND e.change = 'added' AND e.at >= $3) AS added,
       (SELECT count(DISTINCT e.instance_id) FROM pattern_events e
        WHERE e.kind = l.kind AND e.name = l.name AND e.change = 'dropped' AND e.at >= $3) AS dropped
FROM learned_patterns l
WHERE l.instances >= $1
ORDER BY l.instances DESC, l.projects DESC, l.kind, l.name
LIMIT $2;

-- name: instance_projects --
-- One instance's projects, newest report first ($1 instance).
SELECT project, format, dependencies, rejected, rejects, first_reported_at, last_reported_at, changed_at
FROM reported_projects WHERE instance_id = $1
ORDER BY last_reported_at DESC, project;

-- name: instance_rejected_reports --
-- One instance's rejected reports, newest first ($1 instance, $2 limit).
SELECT message_id, project, reason, detail, received_at
FROM rejected_reports WHERE instance_id = $1
ORDER BY received_at DESC, id DESC
LIMIT $2;

-- name: try_patterns_lock --
-- Take the recompute's lock for this transaction, without waiting ($1 lock key).
SELECT pg_try_advisory_xact_lock($1);

-- name: pattern_state --
-- Transactions and time of the last recompute.
SELECT transactions, computed_at FROM pattern_state;

-- name: clear_pattern_aggregates --
-- Empty the recomputed tables (inside the recompute's transaction; readers see the old rows until
-- it commits), with the memory the recompute's statements need to stay off disk, and no JIT:
-- compiling these one-off statements costs more than it saves. The pairs are built beside.
SET LOCAL work_mem = '128MB'; SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL jit = off;
DELETE FROM learned_patterns; DELETE FROM package_usage;
CREATE TABLE package_pairs_next (LIKE package_pairs);

-- name: index_next_pairs --
-- Index the pairs just copied into package_pairs_next as schema.sql indexes package_pairs: building
-- an index over sorted rows takes a fraction of inserting hundreds of thousands of rows one by one
-- into four indexes.
CREATE UNIQUE INDEX package_pairs_next_pkey ON package_pairs_next (a, b);
CREATE INDEX package_pairs_next_a_npmi_idx ON package_pairs_next (a, npmi DESC, projects DESC);
CREATE INDEX package_pairs_next_b_npmi_idx ON package_pairs_next (b, npmi DESC, projects DESC);
CREATE INDEX package_pairs_next_projects_idx ON package_pairs_next (projects DESC, instances DESC);
ANALYZE package_pairs_next;

-- name: swap_pairs --
-- Put the new pairs in place of the old, last in the recompute: readers wait only for the renames
-- and the commit. Names end as schema.sql has them.
DROP TABLE package_pairs;
ALTER TABLE package_pairs_next RENAME TO package_pairs;
ALTER TABLE package_pairs ADD CONSTRAINT package_pairs_pkey PRIMARY KEY USING INDEX package_pairs_next_pkey;
ALTER INDEX package_pairs_next_a_npmi_idx RENAME TO package_pairs_a_npmi_idx;
ALTER INDEX package_pairs_next_b_npmi_idx RENAME TO package_pairs_b_npmi_idx;
ALTER INDEX package_pairs_next_projects_idx RENAME TO package_pairs_projects_idx;
ANALYZE package_usage, learned_patterns, pattern_state;


-- name: usage_items --
-- Every project's dependency arrays, for the recompute: package ids and direct flags in binary
-- (array_send), read straight into arrays.
SELECT rp.instance_id, extract(epoch FROM rp.last_reported_at)::float8 AS seen, cardinality(rp.package_ids) AS size,
       array_send(rp.package_ids) AS packages, array_send(rp.directs) AS directs, rp.versions
FROM reported_projects rp;

-- name: instance_package_sets --
-- The packages each instance used at the last recompute (binary, ids ascending).
SELECT instance_id, array_send(package_ids) AS packages FROM instance_packages;

-- name: note_usage_events --
-- Note adds and drops found by the recompute ($1 package ids, $2 instances, $3 changes; array literals).
INSERT INTO usage_events AS e (package_id, instance_id, change)
SELECT t.package_id, t.instance_id, t.change
FROM unnest($1::text::bigint[], $2::text::text[], $3::text::text[]) AS t (package_id, instance_id, change)
ORDER BY t.package_id, t.instance_id, t.change
ON CONFLICT (package_id, instance_id, change) DO UPDATE SET at = EXCLUDED.at;

-- name: save_instance_packages --
-- Remember the packages an instance uses now ($1 instance, $2 ids ascending as an array literal).
INSERT INTO instance_packages (instance_id, package_ids) VALUES ($1, $2::text::bigint[])
ON CONFLICT (instance_id) DO UPDATE SET package_ids = EXCLUDED.package_ids;

-- name: forget_instance_packages --
-- Instances with no project left ($1 instances).
DELETE FROM instance_packages WHERE instance_id = ANY ($1::text[]);

-- name: insert_package_usage --
-- Write the usage counted by the recompute (array literals: $1 package ids, $2 projects,
-- $3 instances, $4 direct projects, $5 direct instances, $6 last seen in epoch seconds, $7 the
-- versions shown as JSON or NULL), with the instances that added or dropped each package since
-- $8; a package nobody uses any more keeps a row while its trend is not zero.
WITH used AS (
    SELECT * FROM unnest($1::text::bigint[], $2::text::integer[], $3::text::integer[], $4::text::integer[],
                         $5::text::integer[], $6::text::float8[], $7::text::text[])
        AS u (package_id, projects, instances, direct_projects, direct_instances, last_seen, versions)
), trend AS (
    SELECT e.package_id, count(*) FILTER (WHERE e.change = 'added')::integer AS added,
           count(*) FILTER (WHERE e.change = 'dropped')::integer AS dropped
    FROM usage_events e WHERE e.at >= $8 GROUP BY e.package_id
)
INSERT INTO package_usage (package_id, projects, instances, direct_projects, direct_instances, last_seen_at,
                           versions, added_30d, dropped_30d)
SELECT coalesce(u.package_id, t.package_id), coalesce(u.projects, 0), coalesce(u.instances, 0),
       coalesce(u.direct_projects, 0), coalesce(u.direct_instances, 0), to_timestamp(u.last_seen),
       coalesce(u.versions::jsonb, '[]'::jsonb), coalesce(t.added, 0), coalesce(t.dropped, 0)
FROM used u
FULL JOIN trend t ON t.package_id = u.package_id;


-- name: save_pattern_state --
-- Note the transactions the recompute counted (projects with a direct dependency, $1) and its time.
INSERT INTO pattern_state (id, transactions, computed_at) VALUES (true, $1, now())
ON CONFLICT (id) DO UPDATE SET transactions = EXCLUDED.transactions, computed_at = EXCLUDED.computed_at;

-- name: recompute_learned_patterns --
-- Fill the learned patterns with their counts and the $2 packages most associated with each
-- by lift, among those sharing the pattern in at least $1 instances ($1 minimum instances, $2 per pattern).
WITH counts AS (
    SELECT r.kind, r.name, count(*) AS projects, count(DISTINCT rp.instance_id) AS instances,
           min(rp.first_reported_at) AS first_seen_at, max(rp.last_reported_at) AS last_seen_at
    FROM reported_patterns r JOIN reported_projects rp ON rp.id = r.project_id
    GROUP BY r.kind, r.name
), together AS (
    SELECT r.kind, r.name, d.package_id, count(DISTINCT d.project_id) AS projects,
           count(DISTINCT rp.instance_id) AS instances
    FROM reported_patterns r
    JOIN reported_projects rp ON rp.id = r.project_id
    JOIN reported_dependencies d ON d.project_id = r.project_id AND d.direct
    GROUP BY r.kind, r.name, d.package_id
    HAVING count(DISTINCT rp.instance_id) >= $1
), ranked AS (
    SELECT t.kind, t.name, k.ecosystem, k.name AS package, t.projects,
           t.projects::float8 * s.transactions / (c.projects::float8 * u.direct_projects) AS lift,
           row_number() OVER (PARTITION BY t.kind, t.name
                              ORDER BY t.projects::float8 / u.direct_projects DESC, t.projects DESC, k.ecosystem, k.name) AS rank
    FROM together t
    JOIN counts c ON c.kind = t.kind AND c.name = t.name
    JOIN package_usage u ON u.package_id = t.package_id AND u.direct_projects > 0
    JOIN reported_packages k ON k.id = t.package_id
    CROSS JOIN pattern_state s
)
INSERT INTO learned_patterns (kind, name, projects, instances, associated, first_seen_at, last_seen_at)
SELECT c.kind, c.name, c.projects, c.instances,
       coalesce((SELECT jsonb_agg(jsonb_build_object('ecosystem', r.ecosystem, 'name', r.package,
                                                     'projects', r.projects, 'lift', r.lift) ORDER BY r.rank)
                 FROM ranked r WHERE r.kind = c.kind AND r.name = c.name AND r.rank <= $2), '[]'::jsonb),
       c.first_seen_at, c.last_seen_at
FROM counts c;

-- name: pattern_storage --
-- Bytes the pattern tables take on disk, indexes included.
SELECT sum(pg_total_relation_size(t::regclass))::bigint
FROM unnest(ARRAY['reported_packages', 'reported_projects', 'instance_packages', 'reported_patterns',
                  'usage_events', 'pattern_events', 'rejected_reports', 'package_usage', 'package_pairs',
                  'learned_patterns', 'pattern_state', 'sent_alerts']) AS t;

-- name: alert_candidates --
-- Reported resolved versions of tracked packages with an advisory, a yank or a deprecation on
-- record; every project, or those of $1 (project ids, or NULL for all).
SELECT rp.instance_id, rp.project, k.ecosystem, k.name, d.version,
       EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = k.ecosystem AND f.name = k.name) AS has_advisories,
       coalesce(v.yanked, false) AS yanked, v.yanked_reason,
       coalesce(v.deprecated, false) OR coalesce(p.deprecated, false) AS deprecated,
       coalesce(v.deprecated_reason, p.deprecated_reason) AS deprecated_reason,
       p.advisories_synced_at
FROM reported_dependencies d
JOIN reported_projects rp ON rp.id = d.project_id
JOIN reported_packages k ON k.id = d.package_id AND k.ecosystem IN ('npm', 'cargo', 'hex', 'pypi')
JOIN packages p ON p.ecosystem = k.ecosystem AND p.name = k.name
LEFT JOIN versions v ON v.package_id = p.id AND v.number = d.version
WHERE d.version <> '' AND ($1::bigint[] IS NULL OR d.project_id = ANY ($1::bigint[]))
  AND (p.deprecated OR coalesce(v.yanked, false) OR coalesce(v.deprecated, false)
       OR EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = k.ecosystem AND f.name = k.name));

-- name: sent_alert_keys --
-- Which of the given alerts were sent already ($1 instances, $2 projects, $3 purls, $4 keys).
SELECT s.instance_id, s.project, s.purl, s.key
FROM sent_alerts s
JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t (instance_id, project, purl, key)
  ON s.instance_id = t.instance_id AND s.project = t.project AND s.purl = t.purl AND s.key = t.key;

-- name: record_sent_alert --
-- Note an alert as sent ($1 instance, $2 project, $3 purl, $4 key, $5 message id).
INSERT INTO sent_alerts (instance_id, project, purl, key, message_id) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING;
