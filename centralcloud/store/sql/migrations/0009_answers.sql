-- Answers (recommend, dependency trees, frameworks): what a version needs of its runtime, its Cargo
-- features, where its core metadata can be read, and which packages entered the store through
-- discovery rather than use.

ALTER TABLE versions ADD COLUMN requires_runtime text;
ALTER TABLE versions ADD COLUMN features json;
ALTER TABLE versions ADD COLUMN metadata_url text;
ALTER TABLE packages ADD COLUMN discovered_at timestamptz;
-- Framework look-ups: who declares a framework as a peer, and who carries its classifier.
CREATE INDEX packages_peer_frameworks_idx ON packages USING gin (peer_frameworks);
CREATE INDEX packages_classifiers_idx ON packages USING gin (classifiers);
