-- Pattern knowledge at speed (issue 8): a report in one call, identical re-sends recognised
-- without decoding, answers read from rows the recompute fills, events bounded per instance.

-- The hash of a report's raw body (with its Project header): an identical re-send matches it
-- and moves only "last seen", without being decoded.
ALTER TABLE reported_projects ADD COLUMN body_digest bytea;
CREATE INDEX reported_projects_body_idx ON reported_projects (instance_id, body_digest);

-- One row per (package, instance, change) with the latest time: the trend counts instances
-- that added or dropped a package, so a row per project and report only grew the table.
ALTER TABLE usage_events RENAME TO usage_events_old;
CREATE TABLE usage_events (
    package_id   bigint NOT NULL REFERENCES reported_packages (id) ON DELETE CASCADE,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (package_id, instance_id, change)
);
INSERT INTO usage_events (package_id, instance_id, change, at)
SELECT package_id, instance_id, change, max(at) FROM usage_events_old GROUP BY package_id, instance_id, change;
DROP TABLE usage_events_old;

ALTER TABLE pattern_events RENAME TO pattern_events_old;
CREATE TABLE pattern_events (
    kind         text NOT NULL,
    name         text NOT NULL,
    instance_id  text NOT NULL,
    change       text NOT NULL CHECK (change IN ('added', 'dropped')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name, instance_id, change)
);
INSERT INTO pattern_events (kind, name, instance_id, change, at)
SELECT kind, name, instance_id, change, max(at) FROM pattern_events_old GROUP BY kind, name, instance_id, change;
DROP TABLE pattern_events_old;

-- Everything patterns.usage and patterns.popular answer, filled by the recompute: a read is
-- one row. A package nobody uses any more keeps a row while its trend is not zero.
ALTER TABLE package_usage
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN versions jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN added_30d integer NOT NULL DEFAULT 0,
    ADD COLUMN dropped_30d integer NOT NULL DEFAULT 0;

-- A package's strongest pairs, read in index order from either side.
DROP INDEX package_pairs_b_idx;
CREATE INDEX package_pairs_a_npmi_idx ON package_pairs (a, npmi DESC, projects DESC);
CREATE INDEX package_pairs_b_npmi_idx ON package_pairs (b, npmi DESC, projects DESC);

-- Make a decoded report the project's current set in one call: the new set is compared with
-- the stored one, only the differences are written, and an instance's adds and drops are
-- noted for the trend. Package ids come resolved (reported_package_ids). Returns 'stored'
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
    old_packages bigint[] := '{}';
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
                                         rejected, rejects)
    VALUES (p_instance, p_project, p_digest, p_body_digest, p_format, p_seq, p_dependencies, p_rejected, p_rejects)
    ON CONFLICT (instance_id, project) DO UPDATE SET
        digest = EXCLUDED.digest, body_digest = EXCLUDED.body_digest, format = EXCLUDED.format,
        stream_seq = EXCLUDED.stream_seq, dependencies = EXCLUDED.dependencies, rejected = EXCLUDED.rejected,
        rejects = EXCLUDED.rejects, last_reported_at = now(), changed_at = now()
    WHERE rp.stream_seq < EXCLUDED.stream_seq
    RETURNING rp.id, rp.xmax = 0 INTO pid, inserted;
    IF pid IS NULL THEN
        RETURN QUERY SELECT 'duplicate'::text, NULL::bigint;
        RETURN;
    END IF;

    IF inserted THEN
        INSERT INTO reported_dependencies (project_id, package_id, version, requirement, kind, direct)
        SELECT pid, t.package_id, t.version, t.requirement, t.kind, t.direct
        FROM unnest(p_packages, p_versions, p_requirements, p_kinds, p_directs)
             AS t (package_id, version, requirement, kind, direct);
    ELSE
        old_packages := ARRAY(SELECT DISTINCT d.package_id FROM reported_dependencies d WHERE d.project_id = pid);
        DELETE FROM reported_dependencies d
        WHERE d.project_id = pid AND NOT EXISTS (
            SELECT 1 FROM unnest(p_packages, p_versions) AS t (package_id, version)
            WHERE t.package_id = d.package_id AND t.version = d.version);
        INSERT INTO reported_dependencies AS d (project_id, package_id, version, requirement, kind, direct)
        SELECT pid, t.package_id, t.version, t.requirement, t.kind, t.direct
        FROM unnest(p_packages, p_versions, p_requirements, p_kinds, p_directs)
             AS t (package_id, version, requirement, kind, direct)
        ON CONFLICT ON CONSTRAINT reported_dependencies_pkey DO UPDATE SET
            requirement = EXCLUDED.requirement, kind = EXCLUDED.kind, direct = EXCLUDED.direct
        WHERE (d.requirement, d.kind, d.direct) IS DISTINCT FROM (EXCLUDED.requirement, EXCLUDED.kind, EXCLUDED.direct);
    END IF;

    INSERT INTO usage_events AS e (package_id, instance_id, change)
    SELECT c.package_id, p_instance, c.change
    FROM (
        (SELECT n.package_id, 'added' AS change FROM unnest(p_packages) AS n (package_id)
         EXCEPT SELECT o.package_id, 'added' FROM unnest(old_packages) AS o (package_id))
        UNION ALL
        (SELECT o.package_id, 'dropped' FROM unnest(old_packages) AS o (package_id)
         EXCEPT SELECT n.package_id, 'dropped' FROM unnest(p_packages) AS n (package_id))
    ) AS c
    ORDER BY c.package_id, c.change
    ON CONFLICT (package_id, instance_id, change) DO UPDATE SET at = EXCLUDED.at;

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
