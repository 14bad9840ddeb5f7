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

-- Each package's versions as packages.get sends them (JSON, newest first), encoded when written.
CREATE TABLE package_version_lists (
    package_id  bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    total       integer NOT NULL,
    versions    bytea NOT NULL
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

CREATE TABLE instance_dependencies (
    instance_id  text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    project      text NOT NULL DEFAULT '',
    ecosystem    text NOT NULL CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    name         text NOT NULL,
    requirement  text,
    kind         text NOT NULL DEFAULT 'runtime' CHECK (kind IN ('runtime', 'dev', 'optional', 'peer', 'build')),
    reported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, project, ecosystem, name)
);
CREATE INDEX instance_dependencies_package_idx ON instance_dependencies (ecosystem, name);

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
    phase        text CHECK (phase IN ('syncing', 'advisories', 'repositories', 'downloads', 'scores', 'cleanup'))
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

-- Packages in use: requested since a cutoff, reported, and their runtime dependencies to a depth.
CREATE FUNCTION used_packages(requested_since timestamptz, max_depth integer)
RETURNS TABLE (ecosystem text, name text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE roots AS (
        SELECT r.ecosystem, r.name FROM package_requests r WHERE r.last_requested_at >= requested_since
        UNION
        SELECT i.ecosystem, i.name FROM instance_dependencies i
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
