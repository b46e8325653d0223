"""The ceiling: an aiohttp handler answering lookup-self with a fixed Vault envelope.

`python tests/bench/bare_server.py PORT [py]` prints `READY` once it serves. Same
aiohttp and event loop as the broker; with `py`, aiohttp's pure-Python request parser
(the one the broker's connections move to after a LIST, mount/http/list_method.py), else
the C parser every connection starts on. No routing table, token, ACL, audit, metrics
or JSON rendering per request.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mount.http.server import run_loop

BODY = json.dumps(
    {
        "request_id": "00000000-0000-0000-0000-000000000000",
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": {
            "accessor": "a" * 24,
            "creation_time": 1700000000,
            "creation_ttl": 0,
            "display_name": "root",
            "entity_id": "",
            "expire_time": None,
            "explicit_max_ttl": 0,
            "id": "root",
            "meta": None,
            "num_uses": 0,
            "orphan": True,
            "path": "auth/token/root",
            "policies": ["root"],
            "ttl": 0,
            "type": "service",
        },
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }
).encode()


async def handler(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_route("*", "/v1/{path:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if sys.argv[2:] == ["py"]:
        from aiohttp import http_parser, web_protocol

        setattr(web_protocol, "HttpRequestParser", http_parser.HttpRequestParserPy)  # noqa: B010
    try:
        # The same loop as the broker's (uvloop where installed): the ceiling of its stack.
        run_loop(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
