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
    UNIQUE (ecosystem, name)
);
CREATE INDEX packages_search_idx ON packages USING gin (search_vector);
CREATE INDEX packages_repository_idx ON packages (repository_id);

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
    UNIQUE (package_id, number)
);

CREATE TABLE dependencies (
    id           bigserial PRIMARY KEY,
    version_id   bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    ecosystem    text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name         text NOT NULL,
    requirement  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('runtime', 'dev', 'optional', 'peer', 'build')),
    optional     boolean NOT NULL DEFAULT false,
    condition    text
);
CREATE INDEX dependencies_version_idx ON dependencies (version_id);
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
    PRIMARY KEY (ecosystem, name)
);

CREATE TABLE package_scores (
    package_id    bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    score         double precision NOT NULL,
    popularity    double precision NOT NULL,
    maintenance   double precision NOT NULL,
    security      double precision NOT NULL,
    community     double precision NOT NULL,
    parts         jsonb NOT NULL DEFAULT '{}',
    computed_at   timestamptz NOT NULL DEFAULT now()
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
    phase        text CHECK (phase IN ('syncing', 'advisories', 'alerts', 'repositories', 'scores', 'patterns', 'cleanup'))
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
    UNIQUE (instance_id, project)
);

-- The dependency set of each project; version '' means the report gave none.
CREATE TABLE reported_dependencies (
    project_id   bigint NOT NULL REFERENCES reported_projects (id) ON DELETE CASCADE,
    package_id   bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    version      text NOT NULL DEFAULT '',
    requirement  text,
    kind         text NOT NULL CHECK (kind IN ('runtime', 'dev', 'optional', 'peer', 'build')),
    direct       boolean NOT NULL,
    PRIMARY KEY (project_id, package_id, version)
);
CREATE INDEX reported_dependencies_package_idx ON reported_dependencies (package_id);

CREATE TABLE reported_patterns (
    project_id  bigint NOT NULL REFERENCES reported_projects (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);
CREATE INDEX reported_patterns_pattern_idx ON reported_patterns (kind, name);

-- Adds and drops, per project of an instance, for the 30-day trend.
CREATE TABLE usage_events (
    package_id   bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_package_idx ON usage_events (package_id, at);

CREATE TABLE pattern_events (
    kind         text NOT NULL,
    name         text NOT NULL,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pattern_events_pattern_idx ON pattern_events (kind, name, at);

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
    direct_instances  integer NOT NULL
);
CREATE INDEX package_usage_direct_idx ON package_usage (direct_instances DESC, direct_projects DESC);

CREATE TABLE package_pairs (
    a          bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    b          bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    projects   integer NOT NULL,
    instances  integer NOT NULL,
    npmi       double precision NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX package_pairs_b_idx ON package_pairs (b);
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
          AND EXISTS (SELECT 1 FROM reported_dependencies d WHERE d.package_id = k.id)
    ), walk (ecosystem, name, depth) AS (
        SELECT roots.ecosystem, roots.name, 0 FROM roots
        UNION
        SELECT d.ecosystem, d.name, w.depth + 1
        FROM walk w
        JOIN packages p ON p.ecosystem = w.ecosystem AND p.name = w.name
        JOIN versions v ON v.package_id = p.id AND v.number = p.latest_version
        JOIN dependencies d ON d.version_id = v.id AND d.kind = 'runtime' AND NOT d.optional
        WHERE w.depth < max_depth AND d.ecosystem = w.ecosystem
    )
    SELECT walk.ecosystem, walk.name, min(walk.depth)::integer FROM walk GROUP BY walk.ecosystem, walk.name
$$;
