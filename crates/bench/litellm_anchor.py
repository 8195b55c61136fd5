"""LiteLLM's own pass-through reload, in-process, for the passthru benchmark (scenario 3).

Calls `initialize_pass_through_endpoints` once per cycle with 100 id-less rows built afresh each
cycle, as LiteLLM's database reload (`_update_general_settings` → `initialize_pass_through_endpoints(
pass_through_endpoints=general_settings["pass_through_endpoints"])`) passes them: plain dicts decoded
from the `LiteLLM_Config` JSON, so without an `id`. Prints one JSON line per cycle:
{"cycle", "seconds", "registry", "app_routes", "rss_kib"} and a final {"done": ...} line.

usage: python litellm_anchor.py CYCLES BUDGET_SECONDS [ROWS]
Stops early, saying so, when the total time exceeds BUDGET_SECONDS.
"""

import asyncio
import json
import logging
import os
import sys
import time

os.environ.setdefault("LITELLM_LOG", "ERROR")
logging.disable(logging.WARNING)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def main():
    cycles = int(sys.argv[1])
    budget = float(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 100

    import litellm
    from litellm.proxy.pass_through_endpoints import pass_through_endpoints as pte
    from litellm.proxy.proxy_server import app

    version = getattr(litellm, "__version__", None)
    if version is None:
        from importlib.metadata import version as pkg_version

        version = pkg_version("litellm")
    print(json.dumps({"version": version, "rss_kib": rss_kib(), "app_routes": len(app.routes)}), flush=True)

    started = time.perf_counter()
    stopped = None
    for cycle in range(1, cycles + 1):
        endpoints = [{"path": f"/svc-{i}", "target": f"http://backend-{i}:8080"} for i in range(rows)]
        t = time.perf_counter()
        await pte.initialize_pass_through_endpoints(pass_through_endpoints=endpoints)
        seconds = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "cycle": cycle,
                    "seconds": seconds,
                    "registry": len(pte._registered_pass_through_routes),
                    "app_routes": len(app.routes),
                    "rss_kib": rss_kib(),
                }
            ),
            flush=True,
        )
        if time.perf_counter() - started > budget and cycle < cycles:
            stopped = f"time budget of {budget:.0f} s spent after cycle {cycle}"
            break
    print(json.dumps({"done": True, "stopped": stopped, "total_seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
