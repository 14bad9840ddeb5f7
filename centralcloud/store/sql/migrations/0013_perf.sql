-- Each package's versions as packages.get sends them, encoded once when the package is written,
-- so a cold read sends stored bytes instead of sorting and re-encoding hundreds of rows.
CREATE TABLE package_version_lists (
    package_id  bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    total       integer NOT NULL,
    versions    bytea NOT NULL
);

-- Packages stored before have no list: forget their validators, so the next sync fetches each
-- one in full (a 304 writes nothing) and writes its list. Until then they are read row by row.
UPDATE packages SET etag = NULL, last_modified = NULL;
