-- The full current schema: equal to applying every file in migrations/ in order (a test checks).

CREATE TABLE repositories (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL UNIQUE,
    host            text NOT NULL,
    owner           text,
    name            text,
    description     text,
    stars           integer,
    forks           integer,
    open_issues     integer,
    pushed_at       timestamptz,
    archived        boolean,
    disabled        boolean,
    license         text,
    topics          text[] NOT NULL DEFAULT '{}',
    default_branch  text,
    etag            text,
    synced_at       timestamptz,
    sync_error      text
);

CREATE TABLE packages (
    id                  bigserial PRIMARY KEY,
    ecosystem           text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name                text NOT NULL,
    display_name        text NOT NULL,
    description         text,
    keywords            text[] NOT NULL DEFAULT '{}',
    classifiers         text[] NOT NULL DEFAULT '{}',
    licenses            text[] NOT NULL DEFAULT '{}',
    homepage            text,
    repository_url      text,
    documentation_url   text,
    repository_id       bigint REFERENCES repositories (id) ON DELETE SET NULL,
    latest_version      text,
    deprecated          boolean NOT NULL DEFAULT false,
    deprecated_reason   text,
    downloads           bigint,
    recent_downloads    bigint,
    peer_frameworks     text[] NOT NULL DEFAULT '{}',
    extra               jsonb NOT NULL DEFAULT '{}',
    search_vector       tsvector NOT NULL DEFAULT ''::tsvector,
    etag                text,
    last_modified       text,
    synced_at           timestamptz,
    sync_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    advisories_synced_at timestamptz,
    discovered_at       timestamptz,
    -- Ranking inputs kept in the searched row: the repository's stars (kept by triggers), a yearly
    -- download estimate where the registry gives no total (kept by save_download_counts), and a
    -- gentle log-scaled popularity prior under which deprecated packages sink.
    stars               integer,
    downloads_estimate  bigint,
    search_prior        real GENERATED ALWAYS AS (
        ((1 + 0.1 * ln(1 + coalesce(downloads, downloads_estimate, 0) / 1000.0 + coalesce(stars, 0) / 100.0))
         * CASE WHEN deprecated THEN 0.3 ELSE 1 END)::real
    ) STORED,
    -- The md5 (as a uuid) of the dependency list the package's dependency rows hold.
    dependencies_digest uuid,
    UNIQUE (ecosystem, name)
);
CREATE INDEX packages_search_idx ON packages USING gin (search_vector);
CREATE INDEX packages_peer_frameworks_idx ON packages USING gin (peer_frameworks);
CREATE INDEX packages_classifiers_idx ON packages USING gin (classifiers);
-- Common words are searched by walking packages in this order until enough match.
CREATE INDEX packages_search_prior_idx ON packages (search_prior DESC);
CREATE INDEX packages_repository_idx ON packages (repository_id);

-- The searched document, built by save_package and bulk loads alike.
CREATE FUNCTION package_search_vector(display_name text, keywords text[], description text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, coalesce(display_name, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(keywords, ' ')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
        || setweight(to_tsvector('english'::regconfig, array_to_string(keywords, ' ')), 'C')
$$;

-- With what a package's categories say it is for (migration 0015), at the lowest weight: crates.io's
-- categories, PyPI's Framework and Environment classifiers (the others, Topic among them, are too broad).
CREATE FUNCTION package_classifier_text(classifiers text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- "Framework :: Django" says the package works with Django, not that it is a framework.
    SELECT coalesce(string_agg(translate(replace(regexp_replace(c, '^Framework :: ', ''), '::', ' '), '-_/', '   '), ' '), '')
    FROM unnest(classifiers) AS c
    WHERE c NOT LIKE '% :: %' OR c LIKE 'Framework :: %' OR c LIKE 'Environment :: %'
$$;

CREATE FUNCTION package_search_vector(display_name text, keywords text[], description text, classifiers text[])
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT package_search_vector(display_name, keywords, description)
        || setweight(to_tsvector('english'::regconfig, package_classifier_text(classifiers)), 'D')
$$;

-- A query's words as a tsquery, in both the 'simple' and the 'english' forms the document
-- holds, each word also as a prefix when `prefixes`; ANDed when all_words, else ORed. NULL for
-- no words. (A prefix of a common word expands to many lexemes, which the GIN index must merge.)
CREATE FUNCTION search_query(words text[], all_words boolean, prefixes boolean)
RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    word text;
    part tsquery;
    result tsquery;
BEGIN
    FOREACH word IN ARRAY words LOOP
        word := quote_literal(word) || CASE WHEN prefixes THEN ':*' ELSE '' END;
        part := to_tsquery('simple'::regconfig, word) || to_tsquery('english'::regconfig, word);
        IF result IS NULL THEN
            result := part;
        ELSIF all_words THEN
            result := result && part;
        ELSE
            result := result || part;
        END IF;
    END LOOP;
    RETURN result;
END
$$;

CREATE FUNCTION packages_take_stars() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.stars := (SELECT r.stars FROM repositories r WHERE r.id = NEW.repository_id);
    RETURN NEW;
END
$$;
-- Skipped for the usual insert, which names no repository yet (the sync links it afterwards).
CREATE TRIGGER packages_take_stars BEFORE INSERT OR UPDATE OF repository_id ON packages
    FOR EACH ROW WHEN (NEW.repository_id IS NOT NULL OR NEW.stars IS NOT NULL)
    EXECUTE FUNCTION packages_take_stars();

CREATE FUNCTION repositories_give_stars() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE packages SET stars = NEW.stars WHERE repository_id = NEW.id AND stars IS DISTINCT FROM NEW.stars;
    RETURN NULL;
END
$$;
CREATE TRIGGER repositories_give_stars AFTER UPDATE OF stars ON repositories
    FOR EACH ROW WHEN (OLD.stars IS DISTINCT FROM NEW.stars) EXECUTE FUNCTION repositories_give_stars();

CREATE TABLE versions (
    id                  bigserial PRIMARY KEY,
    package_id          bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    number              text NOT NULL,
    published_at        timestamptz,
    prerelease          boolean NOT NULL DEFAULT false,
    yanked              boolean NOT NULL DEFAULT false,
    yanked_reason       text,
    deprecated          boolean NOT NULL DEFAULT false,
    deprecated_reason   text,
    licenses            text[] NOT NULL DEFAULT '{}',
    dependencies        json,
    requires_runtime    text,
    features            json,
    metadata_url        text,
    -- The md5 of the dependencies' JSON text as a uuid: saves compare lists by it.
    dependencies_digest uuid,
    UNIQUE (package_id, number)
);

-- Each package's versions as packages.get sends them (JSON, newest first), encoded when written.
CREATE TABLE package_version_lists (
    package_id  bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    total       integer NOT NULL,
    versions    bytea NOT NULL
);

-- The dependencies declared by each package's latest version, one row each.
CREATE TABLE dependencies (
    id           bigserial PRIMARY KEY,
    package_id   bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    ecosystem    text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name         text NOT NULL,
    requirement  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('runtime', 'dev', 'optional', 'peer', 'build')),
    optional     boolean NOT NULL DEFAULT false,
    condition    text
);
CREATE INDEX dependencies_package_idx ON dependencies (package_id);
CREATE INDEX dependencies_target_idx ON dependencies (ecosystem, name);

CREATE TABLE advisories (
    id              text PRIMARY KEY,
    summary         text,
    details         text,
    severity_vector text,
    severity_score  numeric(3, 1),
    severity        text,
    published_at    timestamptz,
    modified_at     timestamptz,
    withdrawn_at    timestamptz,
    refs            jsonb NOT NULL DEFAULT '[]',
    sources         text[] NOT NULL DEFAULT '{}',
    raw             jsonb,
    synced_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE advisory_aliases (
    advisory_id  text NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    alias        text NOT NULL,
    PRIMARY KEY (advisory_id, alias)
);
CREATE INDEX advisory_aliases_alias_idx ON advisory_aliases (alias);

CREATE TABLE advisory_affected (
    id           bigserial PRIMARY KEY,
    advisory_id  text NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    ecosystem    text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name         text NOT NULL,
    ranges       jsonb NOT NULL DEFAULT '[]',
    versions     text[] NOT NULL DEFAULT '{}',
    flags        text[] NOT NULL DEFAULT '{}',
    source       text NOT NULL DEFAULT 'osv'
);
CREATE INDEX advisory_affected_package_idx ON advisory_affected (ecosystem, name);
CREATE INDEX advisory_affected_advisory_idx ON advisory_affected (advisory_id);
CREATE INDEX advisory_affected_source_idx ON advisory_affected (advisory_id, ecosystem, name, source);

CREATE TABLE advisory_imports (
    ecosystem    text PRIMARY KEY CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    as_of        timestamptz NOT NULL,
    records      integer NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instances (
    id             text PRIMARY KEY,
    name           text,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE package_requests (
    ecosystem           text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name                text NOT NULL,
    origin              text NOT NULL DEFAULT 'request' CHECK (origin IN ('request', 'on_demand')),
    request_count       bigint NOT NULL DEFAULT 1,
    first_requested_at  timestamptz NOT NULL DEFAULT now(),
    last_requested_at   timestamptz NOT NULL DEFAULT now(),
    not_found_at        timestamptz,
    PRIMARY KEY (ecosystem, name)
);

CREATE TABLE package_scores (
    package_id    bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    score         double precision NOT NULL,
    popularity    double precision,
    maintenance   double precision NOT NULL,
    security      double precision NOT NULL,
    community     double precision NOT NULL,
    parts         jsonb NOT NULL DEFAULT '{}',
    computed_at   timestamptz NOT NULL DEFAULT now()
);

-- Download counts from sources apart from the registry documents (npm's downloads API, pypistats).
-- `weekly` holds 12 weekly sums, oldest first, the last one ending on `weekly_end`.
CREATE TABLE package_downloads (
    package_id         bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    source             text NOT NULL,
    last_week          bigint,
    last_month         bigint,
    total              bigint,
    etag               text,
    fetched_at         timestamptz,
    weekly             bigint[],
    weekly_end         date,
    weekly_etag        text,
    weekly_fetched_at  timestamptz
);

CREATE TABLE sync_runs (
    id           bigserial PRIMARY KEY,
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'request')),
    scheduled_for timestamptz,
    requested    jsonb,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    total        integer NOT NULL DEFAULT 0,
    counts       jsonb NOT NULL DEFAULT '{}',
    error        text,
    phase        text CHECK (phase IN (
        'syncing', 'advisories', 'alerts', 'repositories', 'downloads', 'scores', 'patterns', 'cleanup'
    ))
);

CREATE TABLE sync_failures (
    run_id     bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    ecosystem  text NOT NULL,
    name       text NOT NULL,
    source     text NOT NULL,
    reason     text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    id         bigserial PRIMARY KEY
);
CREATE INDEX sync_failures_run_idx ON sync_failures (run_id);

-- Every package any report named, under an integer id that keeps the pair counts small.
CREATE TABLE reported_packages (
    id             bigserial PRIMARY KEY,
    ecosystem      text NOT NULL,
    name           text NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ecosystem, name)
);

-- One project of one instance: its current report. stream_seq is the JetStream sequence of the
-- last message applied, so a redelivered or older message changes nothing.
CREATE TABLE reported_projects (
    id                 bigserial PRIMARY KEY,
    instance_id        text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    project            text NOT NULL,
    digest             text NOT NULL,
    format             text NOT NULL CHECK (format IN ('native', 'cyclonedx', 'spdx', 'github')),
    stream_seq         bigint NOT NULL,
    dependencies       integer NOT NULL,
    rejected           integer NOT NULL DEFAULT 0,
    rejects            jsonb NOT NULL DEFAULT '[]',
    first_reported_at  timestamptz NOT NULL DEFAULT now(),
    last_reported_at   timestamptz NOT NULL DEFAULT now(),
    changed_at         timestamptz NOT NULL DEFAULT now(),
    body_digest        bytea,
    package_ids        bigint[] NOT NULL DEFAULT '{}',
    versions           text[] NOT NULL DEFAULT '{}',
    requirements       text[] NOT NULL DEFAULT '{}',
    kinds              text[] NOT NULL DEFAULT '{}',
    directs            boolean[] NOT NULL DEFAULT '{}',
    UNIQUE (instance_id, project),
    CONSTRAINT reported_projects_arrays_check CHECK (
        cardinality(versions) = cardinality(package_ids) AND cardinality(requirements) = cardinality(package_ids)
        AND cardinality(kinds) = cardinality(package_ids) AND cardinality(directs) = cardinality(package_ids)),
    CONSTRAINT reported_projects_kinds_check CHECK (kinds <@ ARRAY['runtime', 'dev', 'optional', 'peer', 'build'])
);
-- body_digest: the hash of the raw body (with its Project header), so an identical re-send
-- moves only "last seen" without being decoded.
CREATE INDEX reported_projects_body_idx ON reported_projects (instance_id, body_digest);

-- A project's dependency set is kept in its row as parallel arrays (one row written per report);
-- answers about one package find its projects through this index.
CREATE INDEX reported_projects_packages_idx ON reported_projects USING gin (package_ids);

-- One row per dependency of every project; version '' means the report gave none.
CREATE VIEW reported_dependencies AS
SELECT rp.id AS project_id, rp.instance_id, d.package_id, d.version, d.requirement, d.kind, d.direct
FROM reported_projects rp
CROSS JOIN LATERAL unnest(rp.package_ids, rp.versions, rp.requirements, rp.kinds, rp.directs)
    AS d (package_id, version, requirement, kind, direct);

CREATE TABLE reported_patterns (
    project_id  bigint NOT NULL REFERENCES reported_projects (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);
CREATE INDEX reported_patterns_pattern_idx ON reported_patterns (kind, name);

-- Adds and drops for the 30-day trend: one row per (package, instance, change) with the
-- latest recompute that found the instance had taken up or dropped the package.
CREATE TABLE usage_events (
    package_id   bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (package_id, instance_id, change)
);

-- The packages each instance used at the last recompute (ids ascending): the next one notes
-- the difference in usage_events.
CREATE TABLE instance_packages (
    instance_id  text PRIMARY KEY,
    package_ids  bigint[] NOT NULL
);

CREATE TABLE pattern_events (
    kind         text NOT NULL,
    name         text NOT NULL,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name, instance_id, change)
);

-- Reports that could not be used at all, kept for the instance to see.
CREATE TABLE rejected_reports (
    id           bigserial PRIMARY KEY,
    stream_seq   bigint NOT NULL UNIQUE,
    message_id   text,
    instance_id  text NOT NULL,
    project      text,
    reason       text NOT NULL,
    detail       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_reports_instance_idx ON rejected_reports (instance_id, received_at);

-- Recomputed by the patterns phase: direct usage per package, pairs, learned patterns.
CREATE TABLE package_usage (
    package_id        bigint PRIMARY KEY REFERENCES reported_packages (id) ON DELETE CASCADE,
    projects          integer NOT NULL,
    instances         integer NOT NULL,
    direct_projects   integer NOT NULL,
    direct_instances  integer NOT NULL,
    last_seen_at      timestamptz,
    versions          jsonb NOT NULL DEFAULT '[]',
    added_30d         integer NOT NULL DEFAULT 0,
    dropped_30d       integer NOT NULL DEFAULT 0
);
CREATE INDEX package_usage_direct_idx ON package_usage (direct_instances DESC, direct_projects DESC);

-- Built whole beside by each recompute and swapped in, from reported packages (never deleted):
-- no foreign keys.
CREATE TABLE package_pairs (
    a          bigint NOT NULL,
    b          bigint NOT NULL,
    projects   integer NOT NULL,
    instances  integer NOT NULL,
    npmi       double precision NOT NULL,
    PRIMARY KEY (a, b)
);
-- The recompute builds these indexes again on the table it swaps in (queries.sql, index_next_pairs).
CREATE INDEX package_pairs_a_npmi_idx ON package_pairs (a, npmi DESC, projects DESC);
CREATE INDEX package_pairs_b_npmi_idx ON package_pairs (b, npmi DESC, projects DESC);
CREATE INDEX package_pairs_projects_idx ON package_pairs (projects DESC, instances DESC);

CREATE TABLE learned_patterns (
    kind           text NOT NULL,
    name           text NOT NULL,
    projects       integer NOT NULL,
    instances      integer NOT NULL,
    associated     jsonb NOT NULL DEFAULT '[]',
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    PRIMARY KEY (kind, name)
);

-- One row: the transactions (projects with a direct dependency) at the last recompute.
CREATE TABLE pattern_state (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    transactions  integer NOT NULL,
    computed_at   timestamptz NOT NULL
);

-- Alerts published, one per (instance, project, purl@version, advisory id or kind).
CREATE TABLE sent_alerts (
    instance_id  text NOT NULL,
    project      text NOT NULL,
    purl         text NOT NULL,
    key          text NOT NULL,
    message_id   text NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, project, purl, key)
);

-- Packages in use: requested since a cutoff, reported, and their runtime dependencies to a depth.
CREATE FUNCTION used_packages(requested_since timestamptz, max_depth integer)
RETURNS TABLE (ecosystem text, name text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE roots AS (
        SELECT r.ecosystem, r.name FROM package_requests r WHERE r.last_requested_at >= requested_since
        UNION
        SELECT k.ecosystem, k.name FROM reported_packages k
        WHERE k.ecosystem IN ('npm', 'cargo', 'hex', 'pypi')
          AND k.id IN (SELECT unnest(rp.package_ids) FROM reported_projects rp)
    ), walk (ecosystem, name, depth) AS (
        SELECT roots.ecosystem, roots.name, 0 FROM roots
        UNION
        SELECT d.ecosystem, d.name, w.depth + 1
        FROM walk w
        JOIN packages p ON p.ecosystem = w.ecosystem AND p.name = w.name
        JOIN dependencies d ON d.package_id = p.id AND d.kind = 'runtime' AND NOT d.optional
        WHERE w.depth < max_depth AND d.ecosystem = w.ecosystem
    )
    SELECT walk.ecosystem, walk.name, min(walk.depth)::integer FROM walk GROUP BY walk.ecosystem, walk.name
$$;

-- The team's direct dependencies per project, in the tracked ecosystems (every project).
CREATE VIEW team_dependencies AS
SELECT DISTINCT rp.id AS project_id, rp.instance_id, rp.project, k.ecosystem, k.name
FROM reported_projects rp
CROSS JOIN LATERAL unnest(rp.package_ids, rp.directs) AS d (package_id, direct)
JOIN reported_packages k ON k.id = d.package_id
WHERE d.direct AND k.ecosystem IN ('npm', 'cargo', 'hex', 'pypi');

-- The projects using some packages directly, found through the GIN index: what the answers
-- (recommendations, dependents, frameworks) count the team's use of one package by.
CREATE FUNCTION team_direct(p_ecosystems text[], p_names text[])
RETURNS TABLE (project_id bigint, instance_id text, project text, ecosystem text, name text)
LANGUAGE sql STABLE AS $$
    SELECT rp.id, rp.instance_id, rp.project, k.ecosystem, k.name
    FROM (SELECT DISTINCT t.ecosystem, t.name FROM unnest(p_ecosystems, p_names) AS t (ecosystem, name)) AS t
    JOIN reported_packages k ON k.ecosystem = t.ecosystem AND k.name = t.name
    JOIN reported_projects rp ON rp.package_ids @> ARRAY[k.id]
    WHERE k.ecosystem IN ('npm', 'cargo', 'hex', 'pypi')
      AND EXISTS (SELECT 1 FROM unnest(rp.package_ids, rp.directs) AS d (package_id, direct)
                  WHERE d.package_id = k.id AND d.direct)
$$;

-- Make a decoded report the project's current set in one call: the set is written into the
-- project's row and its patterns' adds and drops are noted for their trend. Package ids come
-- resolved (reported_package_ids). Returns 'stored'
-- with the project id, 'unchanged' (same set digest: only "last seen" moves) or 'duplicate'
-- (this or a newer stream message was applied already).
CREATE FUNCTION apply_report(
    p_instance text, p_project text, p_digest text, p_body_digest bytea, p_format text, p_seq bigint,
    p_dependencies integer, p_rejected integer, p_rejects jsonb,
    p_packages bigint[], p_versions text[], p_requirements text[], p_kinds text[], p_directs boolean[],
    p_pattern_kinds text[], p_pattern_names text[]
) RETURNS TABLE (outcome text, project_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    current record;
    pid bigint;
    inserted boolean;
BEGIN
    SELECT rp.id, rp.digest, rp.stream_seq INTO current
    FROM reported_projects rp WHERE rp.instance_id = p_instance AND rp.project = p_project FOR UPDATE;
    IF FOUND AND current.stream_seq >= p_seq THEN
        RETURN QUERY SELECT 'duplicate'::text, NULL::bigint;
        RETURN;
    END IF;
    IF FOUND AND current.digest = p_digest THEN
        UPDATE reported_projects rp
        SET stream_seq = p_seq, last_reported_at = now(), body_digest = p_body_digest, format = p_format,
            rejected = p_rejected, rejects = p_rejects
        WHERE rp.id = current.id;
        RETURN QUERY SELECT 'unchanged'::text, NULL::bigint;
        RETURN;
    END IF;

    INSERT INTO reported_projects AS rp (instance_id, project, digest, body_digest, format, stream_seq, dependencies,
                                         rejected, rejects, package_ids, versions, requirements, kinds, directs)
    VALUES (p_instance, p_project, p_digest, p_body_digest, p_format, p_seq, p_dependencies, p_rejected, p_rejects,
            p_packages, p_versions, p_requirements, p_kinds, p_directs)
    ON CONFLICT (instance_id, project) DO UPDATE SET
        digest = EXCLUDED.digest, body_digest = EXCLUDED.body_digest, format = EXCLUDED.format,
        stream_seq = EXCLUDED.stream_seq, dependencies = EXCLUDED.dependencies, rejected = EXCLUDED.rejected,
        rejects = EXCLUDED.rejects, package_ids = EXCLUDED.package_ids, versions = EXCLUDED.versions,
        requirements = EXCLUDED.requirements, kinds = EXCLUDED.kinds, directs = EXCLUDED.directs,
        last_reported_at = now(), changed_at = now()
    WHERE rp.stream_seq < EXCLUDED.stream_seq
    RETURNING rp.id, rp.xmax = 0 INTO pid, inserted;
    IF pid IS NULL THEN
        RETURN QUERY SELECT 'duplicate'::text, NULL::bigint;
        RETURN;
    END IF;

    IF NOT inserted OR cardinality(p_pattern_kinds) > 0 THEN
        WITH wanted AS (
            SELECT DISTINCT t.kind, t.name FROM unnest(p_pattern_kinds, p_pattern_names) AS t (kind, name)
        ), gone AS (
            DELETE FROM reported_patterns r
            WHERE r.project_id = pid AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.kind = r.kind AND w.name = r.name)
            RETURNING r.kind, r.name
        ), came AS (
            INSERT INTO reported_patterns (project_id, kind, name)
            SELECT pid, w.kind, w.name FROM wanted w
            ON CONFLICT (project_id, kind, name) DO NOTHING
            RETURNING reported_patterns.kind, reported_patterns.name
        )
        INSERT INTO pattern_events AS e (kind, name, instance_id, change)
        SELECT c.kind, c.name, p_instance, c.change
        FROM (SELECT came.kind, came.name, 'added' AS change FROM came
              UNION ALL SELECT gone.kind, gone.name, 'dropped' FROM gone) AS c
        ORDER BY c.kind, c.name, c.change
        ON CONFLICT (kind, name, instance_id, change) DO UPDATE SET at = EXCLUDED.at;
    END IF;
    RETURN QUERY SELECT 'stored'::text, pid;
END
$$;
