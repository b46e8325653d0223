"""The committed gRPC stubs are exactly what `python -m goplugin.proto.build` makes, and
the services keep OpenBao's and go-plugin's names (the host calls them by name)."""

from __future__ import annotations

from pathlib import Path

from goplugin.proto import (
    backend_pb2,
    build,
    grpc_broker_pb2,
    grpc_stdio_pb2,
    health_pb2,
    multiplexing_pb2,
    version_pb2,
)


def test_regenerating_gives_the_committed_bytes(tmp_path: Path) -> None:
    written = build.generate(tmp_path)
    assert sorted(p.name for p in written) == build.generated_names()
    for path in written:
        committed = build.PROTO_DIR / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{path.name} is stale: rebuild"


def test_full_method_names_are_the_hosts() -> None:
    names = {
        f"/{s.full_name}/{m.name}"
        for module in (
            backend_pb2,
            grpc_broker_pb2,
            grpc_stdio_pb2,
            health_pb2,
            multiplexing_pb2,
            version_pb2,
        )
        for s in module.DESCRIPTOR.services_by_name.values()
        for m in s.methods
    }
    assert {
        "/pb.Backend/HandleRequest",
        "/pb.Backend/HandleExistenceCheck",
        "/pb.Backend/Setup",
        "/pb.Storage/Get",
        "/pb.SystemView/MaxLeaseTTL",
        "/plugin.GRPCBroker/StartStream",
        "/plugin.GRPCStdio/StreamStdio",
        "/grpc.health.v1.Health/Check",
        "/pluginutil.multiplexing.PluginMultiplexing/MultiplexingSupport",
        "/logical.PluginVersion/Version",
    } <= names


def test_field_numbers_match_openbaos() -> None:
    # A few that matter most: a wrong number silently drops the field on the wire.
    lease = backend_pb2.LeaseOptions.DESCRIPTOR.fields_by_name
    assert {n: f.number for n, f in lease.items()} == {
        "TTL": 1,
        "renewable": 2,
        "increment": 3,
        "issue_time": 4,
        "MaxTTL": 5,
    }
    request = backend_pb2.Request.DESCRIPTOR.fields_by_name
    assert request["operation"].number == 3 and request["data"].number == 5
    assert request["secret"].number == 6 and request["mount_point"].number == 12
    assert request["connection"].number == 20
    assert backend_pb2.Secret.DESCRIPTOR.fields_by_name["internal_data"].number == 2
