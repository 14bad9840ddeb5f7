-- Pattern knowledge (issue 8): dependency reports from instances, what the team uses, what goes
-- together, and the alerts sent about it.
--
-- instance_dependencies is replaced by reported_projects / reported_dependencies: a report is a
-- project's whole current set (any purl type, with versions and direct/indirect), not one row
-- per package without a version. used_packages() reads the reported packages of the tracked
-- ecosystems instead; other purl types are counted but never looked up.

DROP FUNCTION used_packages(timestamptz, integer);
DROP TABLE instance_dependencies;

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

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_phase_check;
ALTER TABLE sync_runs
    ADD CONSTRAINT sync_runs_phase_check
        CHECK (phase IN (
            'syncing', 'advisories', 'alerts', 'repositories', 'downloads', 'scores', 'patterns', 'cleanup'
        ));

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

-- The team's direct dependencies per project, in the tracked ecosystems: what the answers
-- (recommendations, dependents, frameworks) count the team's use by.
CREATE VIEW team_dependencies AS
SELECT DISTINCT p.instance_id, p.project, k.ecosystem, k.name
FROM reported_dependencies d
JOIN reported_projects p ON p.id = d.project_id
JOIN reported_packages k ON k.id = d.package_id
WHERE d.direct AND k.ecosystem IN ('npm', 'cargo', 'hex', 'pypi');
