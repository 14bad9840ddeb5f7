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
-- its versions, the dependency rows of the latest version and its encoded version list; versions
-- the registry no longer lists go. Only what changed is written: an unchanged version, an
-- unchanged list and the dependency rows of an unchanged latest version stay as they are.
-- Returns the package id.
-- $1 the package, a JSON object with the columns of `packages` it sets (ecosystem, name,
--    display_name, description, keywords, classifiers, licenses, homepage, repository_url,
--    documentation_url, latest_version, deprecated, deprecated_reason, downloads,
--    recent_downloads, peer_frameworks, extra, etag, last_modified).
-- $2 its versions, a JSON array of {number, published_at, prerelease, yanked, yanked_reason,
--    deprecated, deprecated_reason, licenses, dependencies}, where dependencies is a 1-based
--    index into $3, or null when the source did not say.
-- $3 the distinct dependency lists, as JSON array texts of {ecosystem, name, requirement, kind,
--    optional, condition} (versions mostly share theirs, so each is sent once).
-- $4 true to commit without waiting for the WAL flush (sync writes can be fetched again).
-- $5 the versions as packages.get sends them (a JSON array, newest first).
WITH settings AS (
    SELECT CASE WHEN $4::boolean THEN set_config('synchronous_commit', 'off', true) END AS relaxed
), input AS (
    SELECT * FROM json_populate_record(NULL::packages, $1::text::json)
), old AS (
    -- What was stored before (every part of a statement sees the snapshot taken before it).
    SELECT p.latest_version, v.dependencies::text AS latest_dependencies
    FROM input i
    JOIN packages p ON p.ecosystem = i.ecosystem AND p.name = i.name
    LEFT JOIN versions v ON v.package_id = p.id AND v.number = p.latest_version
), pkg AS (
    INSERT INTO packages AS p (
        ecosystem, name, display_name, description, keywords, classifiers, licenses, homepage,
        repository_url, documentation_url, latest_version, deprecated, deprecated_reason, downloads,
        recent_downloads, peer_frameworks, extra, etag, last_modified, synced_at, sync_error, search_vector
    )
    SELECT i.ecosystem, i.name, i.display_name, i.description, coalesce(i.keywords, '{}'),
           coalesce(i.classifiers, '{}'), coalesce(i.licenses, '{}'), i.homepage, i.repository_url,
           i.documentation_url, i.latest_version, coalesce(i.deprecated, false), i.deprecated_reason,
           i.downloads, i.recent_downloads, coalesce(i.peer_frameworks, '{}'), coalesce(i.extra, '{}'),
           i.etag, i.last_modified, now(), NULL,
           setweight(to_tsvector('simple', i.display_name), 'A')
           || setweight(to_tsvector('simple', array_to_string(i.keywords, ' ')), 'B')
           || setweight(to_tsvector('english', coalesce(i.description, '')), 'C')
           || setweight(to_tsvector('english', array_to_string(i.keywords, ' ')), 'C')
    FROM input i
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
        search_vector = EXCLUDED.search_vector
    RETURNING id, latest_version
), incoming AS (
    SELECT * FROM json_to_recordset($2::text::json)
        AS t (number text, published_at timestamptz, prerelease boolean, yanked boolean, yanked_reason text,
              deprecated boolean, deprecated_reason text, licenses text[], dependencies integer)
), ver AS (
    INSERT INTO versions AS v (
        package_id, number, published_at, prerelease, yanked, yanked_reason, deprecated,
        deprecated_reason, licenses, dependencies
    )
    SELECT pkg.id, t.number, t.published_at, coalesce(t.prerelease, false), coalesce(t.yanked, false),
           t.yanked_reason, coalesce(t.deprecated, false), t.deprecated_reason, coalesce(t.licenses, '{}'),
           ($3::text[])[t.dependencies]::json
    FROM pkg, incoming t
    ON CONFLICT (package_id, number) DO UPDATE SET
        published_at = EXCLUDED.published_at,
        prerelease = EXCLUDED.prerelease,
        yanked = EXCLUDED.yanked,
        yanked_reason = EXCLUDED.yanked_reason,
        deprecated = EXCLUDED.deprecated,
        deprecated_reason = EXCLUDED.deprecated_reason,
        licenses = EXCLUDED.licenses,
        -- A source that lists versions without their dependencies must not erase what another fetch learned.
        dependencies = coalesce(EXCLUDED.dependencies, v.dependencies)
    -- An unchanged version is not rewritten (an update writes a whole new row version).
    WHERE (v.published_at, v.prerelease, v.yanked, v.yanked_reason, v.deprecated, v.deprecated_reason,
           v.licenses, v.dependencies::text)
          IS DISTINCT FROM
          (EXCLUDED.published_at, EXCLUDED.prerelease, EXCLUDED.yanked, EXCLUDED.yanked_reason,
           EXCLUDED.deprecated, EXCLUDED.deprecated_reason, EXCLUDED.licenses,
           coalesce(EXCLUDED.dependencies, v.dependencies)::text)
    RETURNING id, number
), gone AS (
    DELETE FROM versions v USING pkg
    WHERE v.package_id = pkg.id AND NOT EXISTS (SELECT 1 FROM incoming t WHERE t.number = v.number)
), latest AS (
    -- The latest version's dependencies, when this fetch knows them and they are not the rows
    -- stored already (same latest version, same list); otherwise the stored rows stay.
    SELECT ($3::text[])[t.dependencies] AS dependencies
    FROM incoming t, pkg
    WHERE t.number = pkg.latest_version AND t.dependencies IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM old
          WHERE old.latest_version = pkg.latest_version AND old.latest_dependencies = ($3::text[])[t.dependencies]
      )
), latest_row AS (
    -- RETURNING lists only the rows written: an unchanged latest version is found as stored.
    SELECT ver.id FROM ver, pkg WHERE ver.number = pkg.latest_version
    UNION ALL
    SELECT v.id FROM versions v, pkg WHERE v.package_id = pkg.id AND v.number = pkg.latest_version
    LIMIT 1
), old_rows AS (
    -- This removes only rows that existed before the statement (its one snapshot).
    DELETE FROM dependencies d USING versions v, pkg
    WHERE EXISTS (SELECT 1 FROM latest) AND d.version_id = v.id AND v.package_id = pkg.id
), new_rows AS (
    INSERT INTO dependencies (version_id, ecosystem, name, requirement, kind, optional, condition)
    SELECT latest_row.id, dep.ecosystem, dep.name, dep.requirement, dep.kind, coalesce(dep.optional, false),
           dep.condition
    FROM latest_row
    CROSS JOIN latest
    CROSS JOIN json_to_recordset(latest.dependencies::json)
         AS dep (ecosystem text, name text, requirement text, kind text, optional boolean, condition text)
), list AS (
    INSERT INTO package_version_lists AS l (package_id, total, versions)
    SELECT pkg.id, (SELECT count(*) FROM incoming), $5::bytea FROM pkg
    ON CONFLICT (package_id) DO UPDATE SET total = EXCLUDED.total, versions = EXCLUDED.versions
    WHERE (l.total, l.versions) IS DISTINCT FROM (EXCLUDED.total, EXCLUDED.versions)
)
SELECT pkg.id FROM pkg, settings;

-- name: get_package --
-- One package's stored facts in one round trip: the dependencies declared by its latest version,
-- its encoded version list (NULL for a package stored before lists were kept), and what the
-- advisories answer needs to skip its own queries for a package no advisory names
-- ($1 ecosystem, $2 name).
SELECT p.id, p.ecosystem, p.name, p.display_name, p.description, p.keywords, p.classifiers, p.licenses,
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
           AS advisories_named
FROM packages p
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_scores s ON s.package_id = p.id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
LEFT JOIN package_version_lists l ON l.package_id = p.id
WHERE p.ecosystem = $1 AND p.name = $2;

-- name: get_versions --
-- Every stored version of a package, newest publication first, in the order the stored version
-- lists keep (for a package stored before they were kept) ($1 package_id).
SELECT number, published_at, prerelease, yanked, yanked_reason, deprecated, deprecated_reason, licenses
FROM versions WHERE package_id = $1
ORDER BY published_at DESC NULLS LAST, number COLLATE "C" DESC;

-- name: search_packages --
-- Full-text search over name, keywords and description blended with popularity.
-- $1 tsquery text in to_tsquery syntax (terms OR-ed), $2 the same terms AND-ed,
-- $3 ecosystem or NULL for all, $4 limit.
WITH q AS (
    SELECT to_tsquery('simple', $1) || to_tsquery('english', $1) AS any_terms,
           to_tsquery('simple', $2) || to_tsquery('english', $2) AS all_terms
)
SELECT p.ecosystem, p.name, p.display_name, p.description, p.latest_version, p.licenses,
       p.repository_url, p.homepage, p.downloads, p.recent_downloads, p.deprecated, p.keywords, r.stars,
       dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       -- Text relevance, a bonus for matching every term, then a gentle log-scaled popularity boost.
       -- npm and PyPI give no all-time total: a year at the last month's pace stands in for one.
       (ts_rank_cd(p.search_vector, q.any_terms, 32)
        + CASE WHEN p.search_vector @@ q.all_terms THEN 1.0 ELSE 0 END)
       * (1 + 0.1 * ln(1 + coalesce(p.downloads, dl.total, 12 * dl.last_month, 0) / 1000.0
                       + coalesce(r.stars, 0) / 100.0))
       * CASE WHEN p.deprecated THEN 0.3 ELSE 1 END AS rank
FROM packages p
CROSS JOIN q
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
WHERE ($3::text IS NULL OR p.ecosystem = $3)
  AND p.search_vector @@ q.any_terms
ORDER BY rank DESC, p.name
LIMIT $4;

-- name: record_requests --
-- Note many requested packages at once ($1 ecosystems, $2 names, $3 origin).
INSERT INTO package_requests AS r (ecosystem, name, origin)
SELECT t.ecosystem, t.name, $3 FROM unnest($1::text[], $2::text[]) AS t (ecosystem, name)
ON CONFLICT (ecosystem, name) DO UPDATE SET
    request_count = r.request_count + 1,
    last_requested_at = now();

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
-- $1) that were not synced since $2, shallowest first.
SELECT u.ecosystem, u.name, u.depth
FROM used_packages($3, $1) u
LEFT JOIN packages p ON p.ecosystem = u.ecosystem AND p.name = u.name
WHERE p.synced_at IS NULL OR p.synced_at < $2
ORDER BY u.depth, u.ecosystem, u.name;

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
SELECT p.id, p.ecosystem, p.name, p.latest_version, coalesce(p.downloads, dl.total) AS downloads,
       coalesce(p.recent_downloads, dl.last_month) AS recent_downloads, p.deprecated,
       EXISTS (SELECT 1 FROM advisory_affected f WHERE f.ecosystem = p.ecosystem AND f.name = p.name) AS has_advisories,
       p.repository_url IS NOT NULL AS has_repository, cardinality(p.licenses) > 0 AS has_license,
       p.documentation_url IS NOT NULL AS has_documentation,
       r.stars, r.forks, r.open_issues, r.archived,
       (SELECT array_agg(v.published_at ORDER BY v.published_at)
        FROM versions v WHERE v.package_id = p.id AND NOT v.prerelease AND NOT v.yanked AND v.published_at IS NOT NULL) AS releases,
       (SELECT count(DISTINCT dp.id) FROM dependencies d
        JOIN versions dv ON dv.id = d.version_id
        JOIN packages dp ON dp.id = dv.package_id AND dp.latest_version = dv.number
        WHERE d.ecosystem = p.ecosystem AND d.name = p.name AND dp.id <> p.id) AS dependents,
       (SELECT count(DISTINCT i.instance_id) FROM instance_dependencies i
        WHERE i.ecosystem = p.ecosystem AND i.name = p.name) AS instances
FROM packages p
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
WHERE p.ecosystem = ANY ($1::text[]);

-- name: upsert_scores --
-- Store many quality scores at once. $1 package ids, $2 scores, $3 popularity, $4 maintenance,
-- $5 security, $6 community, $7 parts (one JSON object text per package).
INSERT INTO package_scores AS s (package_id, score, popularity, maintenance, security, community, parts, computed_at)
SELECT t.id, t.score, t.popularity, t.maintenance, t.security, t.community, t.parts::jsonb, now()
FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::text[])
     AS t (id, score, popularity, maintenance, security, community, parts)
ON CONFLICT (package_id) DO UPDATE SET
    score = EXCLUDED.score, popularity = EXCLUDED.popularity, maintenance = EXCLUDED.maintenance,
    security = EXCLUDED.security, community = EXCLUDED.community, parts = EXCLUDED.parts,
    computed_at = now();

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

-- name: search_packages_fuzzy --
-- Packages whose name is close to the query (pg_trgm only; used where full text finds too few).
-- $1 query words joined by spaces, $2 ecosystem or NULL, $3 limit.
SELECT p.ecosystem, p.name, p.display_name, p.description, p.latest_version, p.licenses,
       p.repository_url, p.homepage, p.downloads, p.recent_downloads, p.deprecated, p.keywords, r.stars,
       dl.last_week AS downloads_last_week, dl.last_month AS downloads_last_month, dl.total AS downloads_total,
       similarity(p.name, $1) * 0.5 AS rank
FROM packages p
LEFT JOIN repositories r ON r.id = p.repository_id
LEFT JOIN package_downloads dl ON dl.package_id = p.id
WHERE ($2::text IS NULL OR p.ecosystem = $2) AND similarity(p.name, $1) > 0.3
ORDER BY rank DESC, p.name
LIMIT $3;

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
INSERT INTO package_downloads AS d (package_id, source, last_week, last_month, total, etag, fetched_at)
SELECT t.id, $2, t.last_week, t.last_month, t.total, t.etag, $7
FROM unnest($1::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
     AS t (id, last_week, last_month, total, etag)
ON CONFLICT (package_id) DO UPDATE SET
    source = EXCLUDED.source, last_week = EXCLUDED.last_week, last_month = EXCLUDED.last_month,
    total = EXCLUDED.total, etag = EXCLUDED.etag, fetched_at = EXCLUDED.fetched_at;

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
