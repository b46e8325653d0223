"""`python -m mount`: the same as the `entra-broker` command."""

from mount.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
