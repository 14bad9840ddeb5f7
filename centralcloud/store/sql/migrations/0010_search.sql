-- Search at scale: the searched document is built by one function (save_package and bulk loads
-- share it).

CREATE FUNCTION package_search_vector(display_name text, keywords text[], description text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, coalesce(display_name, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(keywords, ' ')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
        || setweight(to_tsvector('english'::regconfig, array_to_string(keywords, ' ')), 'C')
$$;

-- A query's words as a tsquery, in both the 'simple' and the 'english' forms the document
-- holds, each word also as a prefix when `prefixes`; ANDed when all_words, else ORed. NULL for
-- no words. (A prefix of a common word expands to many lexemes, which the GIN index must merge.)
CREATE FUNCTION search_query(words text[], all_words boolean, prefixes boolean)
RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    word text;
    part tsquery;
    result tsquery;
BEGIN
    FOREACH word IN ARRAY words LOOP
        word := quote_literal(word) || CASE WHEN prefixes THEN ':*' ELSE '' END;
        part := to_tsquery('simple'::regconfig, word) || to_tsquery('english'::regconfig, word);
        IF result IS NULL THEN
            result := part;
        ELSIF all_words THEN
            result := result && part;
        ELSE
            result := result || part;
        END IF;
    END LOOP;
    RETURN result;
END
$$;

-- Ranking inputs live in the searched row, so ranking a candidate needs no join: the
-- repository's stars (kept equal by the triggers below) and a popularity prior.
ALTER TABLE packages ADD COLUMN stars integer;
UPDATE packages p SET stars = r.stars FROM repositories r WHERE r.id = p.repository_id;

-- Where the registry document gives no all-time total (npm, PyPI), a yearly estimate from the
-- download counts the sync fetches (save_download_counts keeps it).
ALTER TABLE packages ADD COLUMN downloads_estimate bigint;
UPDATE packages p SET downloads_estimate = coalesce(d.total, 12 * d.last_month)
FROM package_downloads d WHERE d.package_id = p.id;

-- A gentle log-scaled popularity factor; deprecated packages sink.
ALTER TABLE packages ADD COLUMN search_prior real GENERATED ALWAYS AS (
    ((1 + 0.1 * ln(1 + coalesce(downloads, downloads_estimate, 0) / 1000.0 + coalesce(stars, 0) / 100.0))
     * CASE WHEN deprecated THEN 0.3 ELSE 1 END)::real
) STORED;
-- Common words are searched by walking packages in this order until enough match.
CREATE INDEX packages_search_prior_idx ON packages (search_prior DESC);

CREATE FUNCTION packages_take_stars() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.stars := (SELECT r.stars FROM repositories r WHERE r.id = NEW.repository_id);
    RETURN NEW;
END
$$;
-- Skipped for the usual insert, which names no repository yet (the sync links it afterwards).
CREATE TRIGGER packages_take_stars BEFORE INSERT OR UPDATE OF repository_id ON packages
    FOR EACH ROW WHEN (NEW.repository_id IS NOT NULL OR NEW.stars IS NOT NULL)
    EXECUTE FUNCTION packages_take_stars();

CREATE FUNCTION repositories_give_stars() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE packages SET stars = NEW.stars WHERE repository_id = NEW.id AND stars IS DISTINCT FROM NEW.stars;
    RETURN NULL;
END
$$;
CREATE TRIGGER repositories_give_stars AFTER UPDATE OF stars ON repositories
    FOR EACH ROW WHEN (OLD.stars IS DISTINCT FROM NEW.stars) EXECUTE FUNCTION repositories_give_stars();
