-- Which ecosystems an imported advisory export covers, and how recent it is. A deployment that
-- relies on imports (no reachable advisory source) answers from them only for these ecosystems,
-- and says as of when.

CREATE TABLE advisory_imports (
    ecosystem    text PRIMARY KEY CHECK (ecosystem IN ('npm', 'cargo', 'hex', 'pypi')),
    as_of        timestamptz NOT NULL,
    records      integer NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now()
);
