-- Download counts fetched apart from the registry documents (npm's downloads API, pypistats),
-- and popularity that may be unknown.

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

ALTER TABLE package_scores ALTER COLUMN popularity DROP NOT NULL;

-- A run now has a downloads phase.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_phase_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_phase_check
    CHECK (phase IN ('syncing', 'advisories', 'repositories', 'downloads', 'scores', 'cleanup'));
