"""`python -m emulator --listen 127.0.0.1:8443 --cert-dir DIR ...`."""

from __future__ import annotations

import argparse
import logging
import sys

from emulator.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="A local Entra ID tenant (login and Microsoft Graph) over HTTPS.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
