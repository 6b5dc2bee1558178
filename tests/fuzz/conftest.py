"""Fixtures for the API fuzz test: a tenant with real resources, a local site to crawl, and a
guard that keeps whatever the app does with fuzzed URLs on this machine."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import Tenant, TenantFactory
from tests.scaffolding.conftest import dental_site
from tests.support.site import LocalSite, Route


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """The fuzzer invents URLs and the app fetches some of them (crawls; deliveries it may retry
    long after the test that caused them), and the test settings let it reach private networks.
    So from the first fuzz test to the end of the session, no connection and no name lookup
    leaves this machine: they fail as an unreachable host would."""
    connect = socket.socket.connect
    getaddrinfo = socket.getaddrinfo

    def loopback_connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"fuzz tests stay on loopback, not {address[0]}")
        connect(sock, address)

    def local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost") and not _is_loopback(name):
            raise socket.gaierror(socket.EAI_NONAME, f"fuzz tests do not resolve {name!r}")
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", loopback_connect)
        patch.setattr(socket, "getaddrinfo", local_getaddrinfo)
        yield


@dataclass
class Seeded:
    """A tenant and the ids of real resources in it, by the path parameter that names them."""

    tenant: Tenant
    path_values: dict[str, Any]


# Methods whose operations change nothing a later operation's requests would meet differently.
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


@pytest.fixture(scope="module")
def read_only_seeds() -> dict[str, Seeded]:
    """The organization the read-only operations of this module (this xdist worker) share."""
    return {}


@pytest.fixture
async def seeded(
    request: pytest.FixtureRequest, tenants: TenantFactory, read_only_seeds: dict[str, Seeded]
) -> Seeded:
    """An organization holding one of everything a path parameter can name: a fresh one for an
    operation that may change or delete it (so every such operation meets the real resources),
    one shared by the read-only operations (GET, OPTIONS), which cannot take them away. Seeding
    starts workflows and takes about half a second: a fresh one for each of the ~40 read-only
    operations was ~15 s of CI per database."""
    label = getattr(getattr(request.node, "callspec", None), "params", {}).get("label", "")
    read_only = label.split(" ", 1)[0] in READ_ONLY
    if read_only and "shared" in read_only_seeds:
        return read_only_seeds["shared"]
    tenant = await tenants.create()
    made = Seeded(tenant, await tenant.one_of_everything())
    if read_only:
        read_only_seeds["shared"] = made
    return made


@pytest.fixture
def website(serve: Callable[[dict[str, Route]], LocalSite]) -> str:
    """A site on 127.0.0.1 that every accepted `company_website` is pointed at."""
    return serve(dental_site()).url
