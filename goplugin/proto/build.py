"""Regenerate the protobuf and grpclib stubs: `python -m goplugin.proto.build`.

Runs grpcio-tools' protoc with grpclib's code generator over goplugin/proto/*.proto
and writes `*_pb2.py`, `*_pb2.pyi` (types for mypy) and `*_grpc.py` beside them (or
into `--out DIR`, which the reproducibility test uses). The same pinned tool versions
(the `build` extra) give the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

__all__ = ["PROTO_DIR", "ROOT", "generate", "generated_names"]

PROTO_DIR = Path(__file__).resolve().parent
# The directory holding the `goplugin` package: protoc's include root, so that the
# generated modules import each other as `goplugin.proto.*`.
ROOT = PROTO_DIR.parents[1]


def _grpclib_plugin() -> str:
    """The protoc plugin script grpclib installs beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "protoc-gen-grpclib_python"
    found = str(beside) if beside.exists() else shutil.which("protoc-gen-grpclib_python")
    if found is None:
        raise SystemExit("protoc-gen-grpclib_python not found: pip install -e '.[build]'")
    return found


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generated_names() -> list[str]:
    """The file names the build writes, for every .proto file."""
    names: list[str] = []
    for proto in proto_files():
        stem = proto.stem
        # grpclib writes a _grpc.py for every file, an empty one for files without services.
        names += [f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_grpc.py"]
    return sorted(names)


def generate(out: Path) -> list[Path]:
    """Write the stubs under `out` (as `out/goplugin/proto/...`); return the files."""
    from grpc_tools import protoc  # the build extra only: not needed at run time

    well_known = resources.files("grpc_tools") / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-grpclib_python={_grpclib_plugin()}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpclib_python_out={out}",
        *(str(p.relative_to(ROOT)) for p in proto_files()),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    target = out / "goplugin" / "proto"
    return sorted(p for p in target.iterdir() if p.name in generated_names())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goplugin.proto.build", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=ROOT, help="root to write goplugin/proto/ under"
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
