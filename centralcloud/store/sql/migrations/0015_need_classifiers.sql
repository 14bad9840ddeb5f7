-- Needs are matched against what registries classify packages by, too: crates.io's categories and
-- PyPI's Framework and Environment classifiers join the searched document at the lowest weight
-- (Topic classifiers are left out: "Topic :: Internet :: WWW/HTTP" would make every web package an
-- "http client"). Without them "web framework" misses FastAPI, whose summary never says "web" but
-- whose classifiers say "Environment :: Web Environment".

CREATE FUNCTION package_classifier_text(classifiers text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- "Framework :: Django" says the package works with Django, not that it is a framework.
    SELECT coalesce(string_agg(translate(replace(regexp_replace(c, '^Framework :: ', ''), '::', ' '), '-_/', '   '), ' '), '')
    FROM unnest(classifiers) AS c
    WHERE c NOT LIKE '% :: %' OR c LIKE 'Framework :: %' OR c LIKE 'Environment :: %'
$$;

CREATE FUNCTION package_search_vector(display_name text, keywords text[], description text, classifiers text[])
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT package_search_vector(display_name, keywords, description)
        || setweight(to_tsvector('english'::regconfig, package_classifier_text(classifiers)), 'D')
$$;

UPDATE packages SET search_vector = package_search_vector(display_name, keywords, description, classifiers)
WHERE classifiers <> '{}';
