-- Every column that names an ecosystem, a dependency kind or a sync phase or trigger accepts only
-- the values the service knows (centralcloud/core/ecosystems.py; a test keeps the lists equal).
-- Sync failures get a key. A version's dependencies are known exactly when they are stored, so
-- the separate flag goes.

ALTER TABLE dependencies
    ADD CONSTRAINT dependencies_ecosystem_check CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi'));
ALTER TABLE advisory_affected
    ADD CONSTRAINT advisory_affected_ecosystem_check CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi'));
ALTER TABLE instance_dependencies
    ADD CONSTRAINT instance_dependencies_ecosystem_check CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    ADD CONSTRAINT instance_dependencies_kind_check CHECK (kind IN ('runtime', 'dev', 'optional', 'peer', 'build'));
ALTER TABLE package_requests
    ADD CONSTRAINT package_requests_ecosystem_check CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    ADD CONSTRAINT package_requests_origin_check CHECK (origin IN ('request', 'on_demand'));
ALTER TABLE sync_runs
    ADD CONSTRAINT sync_runs_trigger_check CHECK (trigger IN ('schedule', 'request')),
    ADD CONSTRAINT sync_runs_phase_check
        CHECK (phase IN ('syncing', 'advisories', 'repositories', 'scores', 'cleanup'));
ALTER TABLE sync_failures ADD COLUMN id bigserial PRIMARY KEY;
ALTER TABLE versions DROP COLUMN dependencies_known;
