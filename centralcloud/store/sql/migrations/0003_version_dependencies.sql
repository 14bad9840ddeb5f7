-- Every version keeps its declared dependencies as JSON (json, not jsonb: it is only ever read
-- whole, and parsing it into jsonb cost more than the rest of a package's write); the dependencies
-- table holds rows for
-- each package's latest version only, which is what walks, dependents and reverse look-ups use.
-- Writing rows for every version of every package cost more than everything else a sync does.

ALTER TABLE versions ADD COLUMN dependencies json;
