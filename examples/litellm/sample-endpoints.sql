-- Pass-through endpoints and a virtual key as LiteLLM's UI and API store them: one
-- general_settings row whose JSON holds the whole list (entries with and without "id"), and the
-- key as the sha256 hex of its raw value ('sk-litellm-demo' here), with its grant.
INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings', '{
  "store_model_in_db": true,
  "pass_through_endpoints": [
    {"id": "ca49833f-5d4d-43d0-a079-683f6d390ced", "path": "/bria",
     "target": "https://engine.prod.bria-api.com", "headers": {"api_token": "os.environ/BRIA_KEY"},
     "default_query_params": {}, "include_subpath": true, "cost_per_request": 12.0,
     "timeout": null, "auth": true, "guardrails": null, "methods": null},
    {"path": "/cohere", "target": "https://api.cohere.com",
     "headers": {"Authorization": "bearer os.environ/COHERE_API_KEY"}, "include_subpath": true, "auth": true}
  ]
}'::jsonb)
ON CONFLICT (param_name) DO UPDATE SET param_value = EXCLUDED.param_value;

-- The key may call /cohere: LiteLLM 1.110.2 keeps that grant in the key's (or its team's) metadata,
-- as /key/generate with allowed_passthrough_routes writes it; without one it is refused (403).
INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, blocked, expires, metadata)
VALUES (encode(sha256('sk-litellm-demo'), 'hex'), 'sk-...demo', 'demo', false,
        (now() AT TIME ZONE 'UTC') + interval '30 days',
        '{"allowed_passthrough_routes": ["/cohere"]}')
ON CONFLICT (token) DO NOTHING;
