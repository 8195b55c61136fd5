#!/usr/bin/env python3
"""Derive LiteLLM 1.110.2's access decisions for pass-through routes by running LiteLLM itself.

Re-run (from the repository root; the venv lives outside the repo):

    python3 -m venv /work/venv-litellm
    /work/venv-litellm/bin/pip install -r tests/litellm/requirements.txt
    LITELLM_LOCAL_MODEL_COST_MAP=True /work/venv-litellm/bin/python tests/litellm/derive_access_cases.py

It writes tests/litellm/access_cases.json.

How each case is run (everything on the request path is LiteLLM's own code):

* ``litellm.proxy.proxy_server.app`` (the real proxy FastAPI app) is driven through
  ``fastapi.testclient.TestClient``. The app's startup hooks are not run.
* The case's pass-through route is registered with LiteLLM's own
  ``initialize_pass_through_endpoints`` and also put in ``general_settings["pass_through_endpoints"]``,
  which is where LiteLLM keeps the DB/config endpoints that ``get_api_key``,
  ``check_api_key_for_custom_headers_or_pass_through_endpoints`` and ``run_centralized_common_checks``
  read. Its target is a local HTTP server that answers 200, so status 200 means LiteLLM authorised the
  request and forwarded it.
* ``proxy_server.master_key`` / ``general_settings`` are set from the case.
* Keys are served by a stub database: a ``PrismaClient`` instance whose real ``get_data`` runs, with only
  the raw SQL call (``_query_first_with_cached_plan_fallback``: the "combined_view" join of
  ``LiteLLM_VerificationToken`` with ``LiteLLM_TeamTable``) and the
  ``litellm_deprecatedverificationtoken.find_first`` call answered from the case's rows (the stub applies
  the ``revoke_at > now`` filter the query asks for). LiteLLM's own deprecated-key fallback,
  sha256 hashing and ``sk-`` checks therefore run unchanged. Any other table read returns nothing.
* Users and teams are pre-populated in ``proxy_server.user_api_key_cache`` (keys ``user_id`` and
  ``team_id:<team_id>``), the way LiteLLM's own unit tests (tests/test_litellm/proxy/auth/) do.
* ``key_used`` is observed with spies that record (without changing) the return values of LiteLLM's
  key-extraction functions (``get_api_key``, ``get_api_key_from_custom_header``,
  ``check_api_key_for_custom_headers_or_pass_through_endpoints``): the last value returned is the string
  LiteLLM then authenticates. ``authenticated`` records which key row LiteLLM resolved (from the
  ``UserAPIKeyAuth`` that ``user_api_key_auth`` returned, observed by a pass-through wrapper).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import http.server
import json
import os
import re
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "CRITICAL")

import litellm  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from litellm.proxy import proxy_server  # noqa: E402
from litellm.proxy._types import LiteLLM_TeamTableCachedObj, LiteLLM_UserTable, LiteLLMRoutes  # noqa: E402
from litellm.proxy.auth import user_api_key_auth as uaka  # noqa: E402
from litellm.proxy.pass_through_endpoints import pass_through_endpoints as pte  # noqa: E402
from litellm.proxy import utils as proxy_utils  # noqa: E402
from litellm.proxy.utils import PrismaClient, hash_token  # noqa: E402
from litellm.constants import LITELLM_PROXY_MASTER_KEY_ALIAS  # noqa: E402
import importlib.metadata  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "access_cases.json"
GENERATED_BY = (
    "python3 -m venv /work/venv-litellm && /work/venv-litellm/bin/pip install -r tests/litellm/requirements.txt && "
    "LITELLM_LOCAL_MODEL_COST_MAP=True /work/venv-litellm/bin/python tests/litellm/derive_access_cases.py"
)
MASTER = "sk-master-1234"

# ---------------------------------------------------------------- upstream that always answers 200


class _Upstream(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        body = b'{"upstream":"ok"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
threading.Thread(target=_srv.serve_forever, daemon=True).start()
UPSTREAM = f"http://127.0.0.1:{_srv.server_address[1]}"

# ---------------------------------------------------------------- stub database

STATE: dict = {"key_rows": {}, "deprecated": [], "observed": []}


def _when(v: str | None) -> datetime | None:
    now = datetime.now(timezone.utc)
    return {None: None, "past": now - timedelta(days=1), "future": now + timedelta(days=1)}[v]


class _Row:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


class _DeprecatedTable:
    async def find_first(self, where: dict, **_: object) -> _Row | None:
        for r in STATE["deprecated"]:
            if r["token"] == where["token"] and r["revoke_at"] > where["revoke_at"]["gt"]:
                return _Row(**r)
        return None


class _EmptyTable:
    async def find_unique(self, *a: object, **k: object) -> None:
        return None

    async def find_first(self, *a: object, **k: object) -> None:
        return None

    async def find_many(self, *a: object, **k: object) -> list:
        return []

    async def count(self, *a: object, **k: object) -> int:
        return 0


class _DB:
    litellm_deprecatedverificationtoken = _DeprecatedTable()

    def __getattr__(self, name: str) -> _EmptyTable:
        return _EmptyTable()


async def _combined_view(sql: str, hashed: str) -> dict | None:
    row = STATE["key_rows"].get(hashed)
    return None if row is None else dict(row)


fake_prisma = PrismaClient.__new__(PrismaClient)
fake_prisma.__dict__.update(
    _query_first_with_cached_plan_fallback=_combined_view,
    db=_DB(),
    writer_db=_DB(),
    proxy_logging_obj=proxy_server.proxy_logging_obj,
)

# ---------------------------------------------------------------- spies (record, never alter)


def _spy(mod: object, name: str) -> None:
    real = getattr(mod, name)
    if asyncio.iscoroutinefunction(real):

        @functools.wraps(real)
        async def wrapper(*a: object, **k: object) -> object:
            out = await real(*a, **k)
            STATE["observed"].append((name, out))
            return out
    else:

        @functools.wraps(real)
        def wrapper(*a: object, **k: object) -> object:
            out = real(*a, **k)
            STATE["observed"].append((name, out))
            return out

    setattr(mod, name, wrapper)


_spy(uaka, "get_api_key")
_spy(uaka, "get_api_key_from_custom_header")
_spy(uaka, "check_api_key_for_custom_headers_or_pass_through_endpoints")

_real_auth = pte.user_api_key_auth


@functools.wraps(_real_auth)
async def _observed_auth(*a: object, **k: object):
    out = await _real_auth(*a, **k)
    STATE["auth_result"] = out
    return out


pte.user_api_key_auth = _observed_auth

_OPENAI_ROUTES_ORIG = list(LiteLLMRoutes.openai_routes.value)

# ---------------------------------------------------------------- case setup


def _key_row(k: dict, teams: dict) -> dict:
    team = teams.get(k.get("team_id")) if k.get("team_id") else None
    exp = _when(k.get("expires"))
    return {
        "token": hash_token(k["key"]),
        "key_name": None,
        "key_alias": k.get("key_alias"),
        "spend": 0.0,
        "max_budget": None,
        "expires": exp,
        "models": [],
        "aliases": {},
        "config": {},
        "user_id": k.get("user_id"),
        "team_id": k.get("team_id"),
        "permissions": {},
        "max_parallel_requests": None,
        "metadata": k.get("metadata", {}),
        "blocked": k.get("blocked"),
        "tpm_limit": None,
        "rpm_limit": None,
        "allowed_routes": k.get("allowed_routes", []),
        "team_spend": None if team is None else 0.0,
        "team_max_budget": None,
        "team_models": None if team is None else [],
        "team_metadata": None if team is None else team.get("metadata"),
        "team_blocked": None if team is None else team.get("blocked"),
        "team_alias": None,
        "team_members_with_roles": None,
        "team_member_spend": None,
    }


async def _setup(case: dict) -> None:
    gs = case.get("general_settings", {})
    route = case.get("route")
    proxy_server.master_key = gs.get("master_key")
    proxy_server.prisma_client = fake_prisma
    proxy_server.general_settings.clear()
    for k, v in gs.items():
        if v is not None:
            proxy_server.general_settings[k] = v
    endpoints = []
    if route is not None:
        ep = {"path": route["path"], "target": UPSTREAM, "include_subpath": route.get("include_subpath", False)}
        if "auth" in route:
            ep["auth"] = route["auth"]
        if route.get("headers"):
            ep["headers"] = dict(route["headers"])
        if route.get("custom_auth_parser"):
            ep["custom_auth_parser"] = route["custom_auth_parser"]
        if route.get("methods"):
            ep["methods"] = route["methods"]
        endpoints.append(ep)
    proxy_server.general_settings["pass_through_endpoints"] = copy.deepcopy(endpoints)

    # fresh caches and a fresh pass-through registry for every case
    proxy_server.user_api_key_cache.flush_cache()
    proxy_utils._deprecated_key_cache.clear()
    pte.InitPassThroughEndpointHelpers.clear_all_pass_through_routes()
    pte.SafeRouteAdder.remove_unregistered_routes(proxy_server.app)
    LiteLLMRoutes.openai_routes.value[:] = _OPENAI_ROUTES_ORIG
    await pte.initialize_pass_through_endpoints(copy.deepcopy(endpoints))

    teams = {t["team_id"]: t for t in case.get("teams", [])}
    STATE["key_rows"] = {}
    for k in case.get("keys", []):
        row = _key_row(k, teams)
        STATE["key_rows"][row["token"]] = row
    STATE["deprecated"] = [
        {"token": hash_token(d["key"]), "active_token_id": hash_token(d["active_key"]),
         "revoke_at": _when(d["revoke_at"]), "created_at": datetime.now(timezone.utc)}
        for d in case.get("deprecated_tokens", [])
    ]
    for u in case.get("users", []):
        await proxy_server.user_api_key_cache.async_set_cache(
            key=u["user_id"], value=LiteLLM_UserTable(user_id=u["user_id"], user_role=u.get("user_role")).model_dump()
        )
    for t in case.get("teams", []):
        obj = LiteLLM_TeamTableCachedObj(team_id=t["team_id"], metadata=t.get("metadata"), blocked=t.get("blocked", False))
        await proxy_server.user_api_key_cache.async_set_cache(key=f"team_id:{t['team_id']}", value=obj)
    STATE["observed"] = []
    STATE["auth_result"] = None


def _key_string(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def run_case(client: TestClient, case: dict) -> dict:
    asyncio.run(_setup(case))
    req = case["request"]
    resp = client.request(req.get("method", "POST"), req["path"], headers=req.get("headers", {}),
                          content=b'{"x": 1}' if req.get("method", "POST") != "GET" else None)
    observed = STATE["observed"]
    key_used = None
    for name, out in observed:
        if name == "get_api_key":
            key_used = _key_string(out[0])
        elif name in ("get_api_key_from_custom_header", "check_api_key_for_custom_headers_or_pass_through_endpoints"):
            if isinstance(out, str) or out is None:
                key_used = _key_string(out)
            else:  # UserAPIKeyAuth() for an auth: false endpoint: no key authenticated
                key_used = None
    result: dict = {"status": resp.status_code, "key_used": key_used}
    by_hash = {hash_token(k["key"]): k["key"] for k in case.get("keys", [])}
    auth = STATE["auth_result"]
    if resp.status_code == 200 and auth is not None:
        if auth.api_key is None and auth.token is None and auth.user_role is None:
            result["authenticated"] = None  # the auth:false shortcut returned an empty UserAPIKeyAuth()
        elif auth.api_key == LITELLM_PROXY_MASTER_KEY_ALIAS:
            result["authenticated"] = "master_key"
        elif auth.token in by_hash:
            result["authenticated"] = by_hash[auth.token]
        result["user_role"] = getattr(auth.user_role, "value", auth.user_role)
    elif resp.status_code == 200 and auth is None:
        # the request was served by a route object other than the configured endpoint's (a LiteLLM built-in
        # route on the same path), whose auth dependency the wrapper does not observe
        result["auth_result_observed"] = False
    if resp.status_code == 200 and auth is not None and auth.request_route is not None:
        result["route_checked"] = auth.request_route
    if resp.status_code != 200:
        try:
            body = resp.json()
        except Exception:
            body = resp.text
        if isinstance(body, dict) and "error" in body and isinstance(body["error"], dict):
            result["error_message"] = body["error"].get("message")
            result["error_type"] = body["error"].get("type")
            result["error_body_shape"] = "error.message/type/param/code"
            if not result["error_message"]:
                result["error_body"] = body
        elif isinstance(body, dict) and "detail" in body:
            result["error_message"] = body["detail"]
            result["error_body_shape"] = "detail"
        else:
            result["error_message"] = body
    if isinstance(result.get("error_message"), str):
        # timestamps in the expired-key message change on every run
        result["error_message"] = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00", "<time>", result["error_message"])
    return result


def main() -> None:
    from access_case_inputs import CASES  # noqa: PLC0415

    client = TestClient(proxy_server.app, raise_server_exceptions=False)
    out_cases = []
    names = set()
    for case in CASES:
        assert case["name"] not in names, case["name"]
        names.add(case["name"])
        got = run_case(client, case)
        c = copy.deepcopy(case)
        for k in c.get("keys", []):  # the LiteLLM_VerificationToken.token value LiteLLM looks the key up by
            k["token"] = hash_token(k["key"])
        for d in c.get("deprecated_tokens", []):  # LiteLLM_DeprecatedVerificationToken columns
            d["token"] = hash_token(d["key"])
            d["active_token_id"] = hash_token(d["active_key"])
        c["expected"] = got
        c["derived_by"] = "running"
        out_cases.append(c)
        print(f"{case['name']:60s} {got['status']} key_used={got['key_used']} {got.get('error_message', '')!s:.120}",
              file=sys.stderr)
    doc = {
        "litellm_version": importlib.metadata.version("litellm"),
        "generated_by": GENERATED_BY,
        "notes": "expected.* was observed by running LiteLLM's own code (see derive_access_cases.py). "
                 "'past'/'future' in expires/revoke_at mean now -/+ 1 day at generation time.",
        "cases": out_cases,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(out_cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
