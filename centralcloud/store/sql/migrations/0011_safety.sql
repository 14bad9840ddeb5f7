-- Names the registry reported as not found, so the sync skips them for a while instead of
-- asking again on every run (packages.request accepts any well-formed name).

ALTER TABLE package_requests ADD COLUMN not_found_at timestamptz;
