-- Scoped keys (routes.yaml `keys[].admin`, `allow`, `deny`, `only`): which `auth: true` routes a
-- key may use. Column names are the routes.yaml field names and NULL means the field's default,
-- so every key written before this migration stays what it was: unscoped (every auth: true route).
--
-- The lists are JSON text. Their content (a list of strings, not too long) is checked by
-- passthru-sync, which makes a key with a malformed value fail closed (no grant at all) and
-- reports it; the triggers below refuse only values of the wrong storage type, as migration 2
-- does for the other columns, and an UPDATE is checked only for the columns it changes.

ALTER TABLE passthru_keys ADD COLUMN admin BOOLEAN NOT NULL DEFAULT 0; -- every route, whatever allow and deny say
ALTER TABLE passthru_keys ADD COLUMN allow TEXT;  -- JSON list of paths; NULL = every route, [] = none
ALTER TABLE passthru_keys ADD COLUMN deny TEXT;   -- JSON list of paths; NULL = none; checked before allow
ALTER TABLE passthru_keys ADD COLUMN "only" TEXT; -- JSON list of paths; NULL = no limit; limits admins too

CREATE TRIGGER passthru_keys_grants_types_insert BEFORE INSERT ON passthru_keys
BEGIN
    SELECT RAISE(ABORT, 'passthru_keys.admin must be 0 (not admin) or 1 (admin)') WHERE NOT (typeof(NEW.admin) = 'integer' AND NEW.admin IN (0, 1));
    SELECT RAISE(ABORT, 'passthru_keys.allow must be text (a JSON list of paths) or NULL') WHERE typeof(NEW.allow) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.deny must be text (a JSON list of paths) or NULL') WHERE typeof(NEW.deny) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.only must be text (a JSON list of paths) or NULL') WHERE typeof(NEW."only") NOT IN ('text', 'null');
END;

CREATE TRIGGER passthru_keys_grants_types_update BEFORE UPDATE ON passthru_keys
BEGIN
    SELECT RAISE(ABORT, 'passthru_keys.admin must be 0 (not admin) or 1 (admin)') WHERE NEW.admin IS NOT OLD.admin AND NOT (typeof(NEW.admin) = 'integer' AND NEW.admin IN (0, 1));
    SELECT RAISE(ABORT, 'passthru_keys.allow must be text (a JSON list of paths) or NULL') WHERE NEW.allow IS NOT OLD.allow AND typeof(NEW.allow) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.deny must be text (a JSON list of paths) or NULL') WHERE NEW.deny IS NOT OLD.deny AND typeof(NEW.deny) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.only must be text (a JSON list of paths) or NULL') WHERE NEW."only" IS NOT OLD."only" AND typeof(NEW."only") NOT IN ('text', 'null');
END;
