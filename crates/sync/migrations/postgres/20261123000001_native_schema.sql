-- passthru native schema (PostgreSQL). Applied by `passthru-sync migrate`.

-- The change marker: one row, bumped by every statement that changes routes or keys.
-- An idle poll reads only this row.
CREATE TABLE passthru_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    revision BIGINT NOT NULL DEFAULT 0
);
INSERT INTO passthru_revision (singleton, revision) VALUES (TRUE, 0);

-- One row per pass-through route. Column names are the routes.yaml field names; NULL means the
-- field's default. `id` NULL: the id is derived from path and methods (DESIGN.md section 3).
CREATE TABLE passthru_routes (
    row_id BIGSERIAL PRIMARY KEY,
    id TEXT,
    path TEXT,
    target TEXT,
    include_subpath BOOLEAN,
    methods JSONB,              -- JSON list of method names; NULL or [] = every method
    headers JSONB,              -- JSON object name -> value; values may end in os.environ/NAME
    forward_headers BOOLEAN,
    default_query_params JSONB, -- JSON object name -> value
    timeout DOUBLE PRECISION,   -- seconds
    auth BOOLEAN,               -- NULL = true (LiteLLM's default)
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX passthru_routes_id ON passthru_routes (id);

-- API keys accepted by `auth: true` routes: the sha256 of the key, never the key.
CREATE TABLE passthru_keys (
    sha256 TEXT PRIMARY KEY,    -- 64 hex digits
    expires TIMESTAMPTZ,        -- NULL = never
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    note TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION passthru_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_revision BIGINT;
BEGIN
    UPDATE passthru_revision SET revision = revision + 1 RETURNING revision INTO new_revision;
    PERFORM pg_notify('passthru_sync', new_revision::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER passthru_routes_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON passthru_routes
    FOR EACH STATEMENT EXECUTE FUNCTION passthru_bump_revision();
CREATE TRIGGER passthru_keys_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON passthru_keys
    FOR EACH STATEMENT EXECUTE FUNCTION passthru_bump_revision();
