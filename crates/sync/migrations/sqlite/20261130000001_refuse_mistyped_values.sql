-- Refuses values of the wrong type at write time. SQLite stores whatever it is given: 'false'
-- in a BOOLEAN column is the text 'false' (which SQL's NOT reads as 0, so a key "blocked" with
-- blocked = 'true' stayed active), a BLOB fits in a TEXT column. passthru-sync reads such rows
-- column by column and skips them, but refusing them here tells the writer at once.
--
-- Only storage types are checked, not content (JSON syntax, hex digits): passthru-sync
-- validates content and reports the row, as before. An UPDATE is checked only for the columns
-- it changes, so a row written before this migration can still be blocked or fixed one column
-- at a time.

CREATE TRIGGER passthru_routes_types_insert BEFORE INSERT ON passthru_routes
BEGIN
    SELECT RAISE(ABORT, 'passthru_routes.id must be text or NULL') WHERE typeof(NEW.id) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.path must be text or NULL') WHERE typeof(NEW.path) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.target must be text or NULL') WHERE typeof(NEW.target) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.include_subpath must be 0, 1 or NULL') WHERE NOT (typeof(NEW.include_subpath) = 'null' OR (typeof(NEW.include_subpath) = 'integer' AND NEW.include_subpath IN (0, 1)));
    SELECT RAISE(ABORT, 'passthru_routes.methods must be text or NULL') WHERE typeof(NEW.methods) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.headers must be text or NULL') WHERE typeof(NEW.headers) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.forward_headers must be 0, 1 or NULL') WHERE NOT (typeof(NEW.forward_headers) = 'null' OR (typeof(NEW.forward_headers) = 'integer' AND NEW.forward_headers IN (0, 1)));
    SELECT RAISE(ABORT, 'passthru_routes.default_query_params must be text or NULL') WHERE typeof(NEW.default_query_params) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.timeout must be a number of seconds or NULL') WHERE typeof(NEW.timeout) NOT IN ('integer', 'real', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.auth must be 0, 1 or NULL') WHERE NOT (typeof(NEW.auth) = 'null' OR (typeof(NEW.auth) = 'integer' AND NEW.auth IN (0, 1)));
END;

CREATE TRIGGER passthru_routes_types_update BEFORE UPDATE ON passthru_routes
BEGIN
    SELECT RAISE(ABORT, 'passthru_routes.id must be text or NULL') WHERE NEW.id IS NOT OLD.id AND typeof(NEW.id) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.path must be text or NULL') WHERE NEW.path IS NOT OLD.path AND typeof(NEW.path) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.target must be text or NULL') WHERE NEW.target IS NOT OLD.target AND typeof(NEW.target) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.include_subpath must be 0, 1 or NULL') WHERE NEW.include_subpath IS NOT OLD.include_subpath AND NOT (typeof(NEW.include_subpath) = 'null' OR (typeof(NEW.include_subpath) = 'integer' AND NEW.include_subpath IN (0, 1)));
    SELECT RAISE(ABORT, 'passthru_routes.methods must be text or NULL') WHERE NEW.methods IS NOT OLD.methods AND typeof(NEW.methods) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.headers must be text or NULL') WHERE NEW.headers IS NOT OLD.headers AND typeof(NEW.headers) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.forward_headers must be 0, 1 or NULL') WHERE NEW.forward_headers IS NOT OLD.forward_headers AND NOT (typeof(NEW.forward_headers) = 'null' OR (typeof(NEW.forward_headers) = 'integer' AND NEW.forward_headers IN (0, 1)));
    SELECT RAISE(ABORT, 'passthru_routes.default_query_params must be text or NULL') WHERE NEW.default_query_params IS NOT OLD.default_query_params AND typeof(NEW.default_query_params) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.timeout must be a number of seconds or NULL') WHERE NEW.timeout IS NOT OLD.timeout AND typeof(NEW.timeout) NOT IN ('integer', 'real', 'null');
    SELECT RAISE(ABORT, 'passthru_routes.auth must be 0, 1 or NULL') WHERE NEW.auth IS NOT OLD.auth AND NOT (typeof(NEW.auth) = 'null' OR (typeof(NEW.auth) = 'integer' AND NEW.auth IN (0, 1)));
END;

CREATE TRIGGER passthru_keys_types_insert BEFORE INSERT ON passthru_keys
BEGIN
    SELECT RAISE(ABORT, 'passthru_keys.sha256 must be text (64 hex digits)') WHERE typeof(NEW.sha256) != 'text';
    SELECT RAISE(ABORT, 'passthru_keys.expires must be text or NULL') WHERE typeof(NEW.expires) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.blocked must be 0 (active) or 1 (blocked)') WHERE NOT (typeof(NEW.blocked) = 'integer' AND NEW.blocked IN (0, 1));
    SELECT RAISE(ABORT, 'passthru_keys.note must be text or NULL') WHERE typeof(NEW.note) NOT IN ('text', 'null');
END;

CREATE TRIGGER passthru_keys_types_update BEFORE UPDATE ON passthru_keys
BEGIN
    SELECT RAISE(ABORT, 'passthru_keys.sha256 must be text (64 hex digits)') WHERE NEW.sha256 IS NOT OLD.sha256 AND typeof(NEW.sha256) != 'text';
    SELECT RAISE(ABORT, 'passthru_keys.expires must be text or NULL') WHERE NEW.expires IS NOT OLD.expires AND typeof(NEW.expires) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'passthru_keys.blocked must be 0 (active) or 1 (blocked)') WHERE NEW.blocked IS NOT OLD.blocked AND NOT (typeof(NEW.blocked) = 'integer' AND NEW.blocked IN (0, 1));
    SELECT RAISE(ABORT, 'passthru_keys.note must be text or NULL') WHERE NEW.note IS NOT OLD.note AND typeof(NEW.note) NOT IN ('text', 'null');
END;
