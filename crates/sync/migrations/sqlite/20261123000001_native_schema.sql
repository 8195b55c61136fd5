-- passthru native schema (SQLite). Applied by `passthru-sync migrate`, and automatically when
-- the daemon creates its embedded database.

-- The change marker: one row, bumped by every statement that changes routes or keys.
CREATE TABLE passthru_revision (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    revision INTEGER NOT NULL DEFAULT 0
);
INSERT INTO passthru_revision (singleton, revision) VALUES (1, 0);

-- One row per pass-through route; NULL means the field's default; `id` NULL: derived id.
CREATE TABLE passthru_routes (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT,
    path TEXT,
    target TEXT,
    include_subpath BOOLEAN,
    methods TEXT,               -- JSON list
    headers TEXT,               -- JSON object
    forward_headers BOOLEAN,
    default_query_params TEXT,  -- JSON object
    timeout REAL,               -- seconds
    auth BOOLEAN,               -- NULL = true
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX passthru_routes_id ON passthru_routes (id);

CREATE TABLE passthru_keys (
    sha256 TEXT PRIMARY KEY,    -- 64 hex digits
    expires TEXT,               -- RFC 3339 UTC, e.g. 2027-01-31T00:00:00Z; NULL = never
    blocked BOOLEAN NOT NULL DEFAULT 0,
    note TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TRIGGER passthru_routes_insert AFTER INSERT ON passthru_routes
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
CREATE TRIGGER passthru_routes_update AFTER UPDATE ON passthru_routes
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
CREATE TRIGGER passthru_routes_delete AFTER DELETE ON passthru_routes
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
CREATE TRIGGER passthru_keys_insert AFTER INSERT ON passthru_keys
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
CREATE TRIGGER passthru_keys_update AFTER UPDATE ON passthru_keys
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
CREATE TRIGGER passthru_keys_delete AFTER DELETE ON passthru_keys
BEGIN UPDATE passthru_revision SET revision = revision + 1; END;
