-- Managing routes in passthru's native schema with plain SQL (PostgreSQL; SQLite is the same
-- with JSON as text). Create the tables first: `passthru-sync --database-url-file … migrate`.
-- Column names are the routes.yaml field names; NULL means the field's default. `id` may stay
-- NULL: the route then gets the stable id auto- + sha256(path, methods)[:16].
-- Every statement bumps passthru_revision and (PostgreSQL) NOTIFYs passthru-sync at commit.

INSERT INTO passthru_routes (path, target, include_subpath, headers, auth)
VALUES ('/cohere', 'https://api.cohere.com', true,
        '{"authorization": "Bearer os.environ/COHERE_API_KEY"}', true);

INSERT INTO passthru_routes (id, path, target, methods, timeout, auth)
VALUES ('bria-generate', '/bria', 'https://engine.prod.bria-api.com/v1', '["POST"]', 120, true);

INSERT INTO passthru_routes (path, target, include_subpath, forward_headers, default_query_params, auth)
VALUES ('/search', 'http://search.internal:8080/v2', true, true, '{"limit": "10"}', false);

-- API keys for auth: true routes, as sha256 hex (the raw key is never stored).
INSERT INTO passthru_keys (sha256, expires, note)
VALUES (encode(sha256('sk-demo-key'), 'hex'), now() + interval '90 days', 'demo key');

-- A scoped key: /cohere and every path below it, except /cohere/v1/admin and below (deny is
-- checked first). NULL keeps each default: allow NULL = every auth: true route, [] = none;
-- deny NULL = none; "only" NULL = no limit. `only` is a reserved word here: quote it, "only".
INSERT INTO passthru_keys (sha256, allow, deny, note)
VALUES (encode(sha256('sk-team-key'), 'hex'), '["/cohere"]', '["/cohere/v1/admin"]', 'team key');

-- An admin key (every route, whatever allow and deny say), limited to /bria by "only", which
-- applies to admins too.
INSERT INTO passthru_keys (sha256, admin, "only", note)
VALUES (encode(sha256('sk-ops-key'), 'hex'), true, '["/bria"]', 'ops key');

-- Change and remove:
UPDATE passthru_routes SET timeout = 60 WHERE path = '/search';
UPDATE passthru_keys SET deny = '["/cohere/v1/admin", "/cohere/v1/finetune"]' WHERE note = 'team key';
UPDATE passthru_keys SET blocked = true WHERE note = 'demo key';
DELETE FROM passthru_routes WHERE id = 'bria-generate';
