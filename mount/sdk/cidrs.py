"""CIDR blocks for source-address binding (Vault's sdk/helper/cidrutil)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["address_in", "invalid_blocks", "normalize_blocks", "subset_of"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(block: str) -> _Network:
    # A bare address is its own /32 (or /128), as Vault stores it.
    return ipaddress.ip_network(block.strip(), strict=False)


def invalid_blocks(blocks: Iterable[str]) -> list[str]:
    """The entries that are neither an IP address nor a CIDR block."""
    bad = []
    for block in blocks:
        try:
            _network(block)
        except ValueError:
            bad.append(block)
    return bad


def normalize_blocks(blocks: Iterable[str]) -> tuple[str, ...]:
    """Valid blocks in their canonical text (`10.1.2.3/8` becomes `10.0.0.0/8`), deduplicated."""
    seen: dict[str, None] = {}
    for block in blocks:
        if block.strip():
            seen[str(_network(block))] = None
    return tuple(seen)


def address_in(blocks: Iterable[str], remote: str) -> bool:
    """Whether the client address `remote` lies in one of `blocks` (an empty address never)."""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client on a dual-stack socket
    return any(address in _network(block) for block in blocks)


def subset_of(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether every block of `inner` lies inside some block of `outer`."""
    outer_networks = [_network(b) for b in outer]
    for block in inner:
        network = _network(block)
        if not any(
            network.version == o.version and network.subnet_of(o)  # type: ignore[arg-type]
            for o in outer_networks
        ):
            return False
    return True
