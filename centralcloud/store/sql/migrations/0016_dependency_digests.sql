-- Dependency lists by digest (issue 10, sync writes). A version's list is known by the md5 of
-- its JSON text, so a save compares digests instead of list texts and sends only the lists the
-- package does not already store. The dependency rows belong to the package (they are its latest
-- version's), so a new latest version that declares the same list writes none of them.
ALTER TABLE versions ADD COLUMN dependencies_digest uuid;
UPDATE versions SET dependencies_digest = md5(dependencies::text)::uuid WHERE dependencies IS NOT NULL;

ALTER TABLE packages ADD COLUMN dependencies_digest uuid;
ALTER TABLE dependencies ADD COLUMN package_id bigint REFERENCES packages (id) ON DELETE CASCADE;
-- Only the latest version's rows were ever read; rows of an earlier latest version go.
UPDATE dependencies d SET package_id = p.id
FROM versions v JOIN packages p ON p.id = v.package_id AND p.latest_version = v.number
WHERE v.id = d.version_id;
DELETE FROM dependencies WHERE package_id IS NULL;
UPDATE packages p SET dependencies_digest = v.dependencies_digest
FROM versions v
WHERE v.package_id = p.id AND v.number = p.latest_version
  AND EXISTS (SELECT 1 FROM dependencies d WHERE d.package_id = p.id);
ALTER TABLE dependencies ALTER COLUMN package_id SET NOT NULL;
ALTER TABLE dependencies DROP COLUMN version_id;
CREATE INDEX dependencies_package_idx ON dependencies (package_id);

CREATE OR REPLACE FUNCTION used_packages(requested_since timestamptz, max_depth integer)
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
        JOIN dependencies d ON d.package_id = p.id AND d.kind = 'runtime' AND NOT d.optional
        WHERE w.depth < max_depth AND d.ecosystem = w.ecosystem
    )
    SELECT walk.ecosystem, walk.name, min(walk.depth)::integer FROM walk GROUP BY walk.ecosystem, walk.name
$$;
