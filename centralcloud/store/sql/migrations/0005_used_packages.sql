-- The packages CentralCloud keeps: requested since a cutoff, reported by an instance, and the
-- runtime dependencies of their latest versions down to a depth. The sync selects from it and
-- the clean-up keeps it, so both always agree on what "in use" means.

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
