"""The Entra emulator for benchmarks, in its own process, with users bench-<i>@bench.test.

`python tests/bench/serve_emulator.py --dir DIR --users N` prints one line
`READY {"base_url": ..., "ca_path": ..., "tenant_id": ..., ...}` once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import signal
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from plugin.emulator import EmulatorServer, EmulatorSettings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--users", type=int, default=64)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = EmulatorSettings(
        tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        client_secret=secrets.token_urlsafe(32),
        users=[f"bench-{i}@bench.test" for i in range(args.users)],
    )
    server = EmulatorServer(settings, cert_dir=args.dir / "emulator")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    info = {
        "base_url": server.base_url,
        "ca_path": str(server.ca_path),
        "tenant_id": settings.tenant_id,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    print("READY " + json.dumps(info), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
