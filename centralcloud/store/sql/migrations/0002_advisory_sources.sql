-- Advisory facts per source (OSV ranges outrank a registry's own partial view), and when a
-- package's advisories were last checked.

ALTER TABLE advisory_affected ADD COLUMN source text NOT NULL DEFAULT 'osv';
CREATE INDEX advisory_affected_source_idx ON advisory_affected (advisory_id, ecosystem, name, source);
ALTER TABLE packages ADD COLUMN advisories_synced_at timestamptz;
