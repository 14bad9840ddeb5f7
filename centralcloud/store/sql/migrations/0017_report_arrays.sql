-- Reports at speed (issue 8, ingest). A project's dependency set lives in its own row as parallel
-- arrays, so a report writes one row instead of one per dependency with two index entries each.
-- reported_dependencies becomes a view with the columns it had (and the instance), so readers
-- that go through every project keep their shape; a reader that asks about one package finds its
-- projects through the GIN index on package_ids (team_direct). An instance's adds and drops for
-- the trend are no longer written by each report: the recompute compares each instance's
-- packages with those it saw the time before (instance_packages).

ALTER TABLE reported_projects
    ADD COLUMN package_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN versions text[] NOT NULL DEFAULT '{}',
    ADD COLUMN requirements text[] NOT NULL DEFAULT '{}',
    ADD COLUMN kinds text[] NOT NULL DEFAULT '{}',
    ADD COLUMN directs boolean[] NOT NULL DEFAULT '{}';

UPDATE reported_projects rp
SET package_ids = d.package_ids, versions = d.versions, requirements = d.requirements, kinds = d.kinds,
    directs = d.directs
FROM (
    SELECT project_id, array_agg(package_id ORDER BY package_id, version) AS package_ids,
           array_agg(version ORDER BY package_id, version) AS versions,
           array_agg(requirement ORDER BY package_id, version) AS requirements,
           array_agg(kind ORDER BY package_id, version) AS kinds,
           array_agg(direct ORDER BY package_id, version) AS directs
    FROM reported_dependencies GROUP BY project_id
) AS d
WHERE d.project_id = rp.id;

ALTER TABLE reported_projects
    ADD CONSTRAINT reported_projects_arrays_check CHECK (
        cardinality(versions) = cardinality(package_ids) AND cardinality(requirements) = cardinality(package_ids)
        AND cardinality(kinds) = cardinality(package_ids) AND cardinality(directs) = cardinality(package_ids)),
    ADD CONSTRAINT reported_projects_kinds_check CHECK (kinds <@ ARRAY['runtime', 'dev', 'optional', 'peer', 'build']);
CREATE INDEX reported_projects_packages_idx ON reported_projects USING gin (package_ids);

-- The packages each instance used at the last recompute (ids ascending): the next one notes
-- the difference in usage_events.
CREATE TABLE instance_packages (
    instance_id  text PRIMARY KEY,
    package_ids  bigint[] NOT NULL
);
INSERT INTO instance_packages (instance_id, package_ids)
SELECT rp.instance_id, array_agg(DISTINCT d.package_id ORDER BY d.package_id)
FROM reported_dependencies d JOIN reported_projects rp ON rp.id = d.project_id
GROUP BY rp.instance_id;

-- The pairs are rewritten whole by each recompute from the reported packages in the same
-- transaction (and reported packages are never deleted): checking two foreign keys for each of
-- hundreds of thousands of rows cost more than writing them.
ALTER TABLE package_pairs DROP CONSTRAINT package_pairs_a_fkey, DROP CONSTRAINT package_pairs_b_fkey;

DROP VIEW team_dependencies;
DROP TABLE reported_dependencies;

-- One row per dependency of every project; version '' means the report gave none.
CREATE VIEW reported_dependencies AS
SELECT rp.id AS project_id, rp.instance_id, d.package_id, d.version, d.requirement, d.kind, d.direct
FROM reported_projects rp
CROSS JOIN LATERAL unnest(rp.package_ids, rp.versions, rp.requirements, rp.kinds, rp.directs)
    AS d (package_id, version, requirement, kind, direct);

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

CREATE OR REPLACE FUNCTION used_packages(requested_since timestamptz, max_depth integer)
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

-- A report in one call, as before, now writing the set into the project's row.
CREATE OR REPLACE FUNCTION apply_report(
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
