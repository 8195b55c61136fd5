-- Scoped keys (routes.yaml `keys[].admin`, `allow`, `deny`, `only`): which `auth: true` routes a
-- key may use. Column names are the routes.yaml field names and NULL means the field's default,
-- so every key written before this migration stays what it was: unscoped (every auth: true route).
--
-- `only` is a reserved word in PostgreSQL: write it "only" (quoted) in SQL.
--
-- No shape constraint on the JSON: passthru-sync reads each value and a malformed one (not a
-- list of strings, too long) makes its key fail closed (no grant at all), reported with the
-- column, rather than being refused here with a less helpful message.

ALTER TABLE passthru_keys
    ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE, -- every route, whatever allow and deny say
    ADD COLUMN allow JSONB,                          -- JSON list of paths; NULL = every route, [] = none
    ADD COLUMN deny JSONB,                           -- JSON list of paths; NULL = none; checked before allow
    ADD COLUMN "only" JSONB;                         -- JSON list of paths; NULL = no limit; limits admins too
