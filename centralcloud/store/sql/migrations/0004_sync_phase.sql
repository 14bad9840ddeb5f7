-- What a running sync is doing now (syncing, advisories, repositories, scores, cleanup).

ALTER TABLE sync_runs ADD COLUMN phase text;
