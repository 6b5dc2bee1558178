from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.crawler.site import LocalSite, Route


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Route]], LocalSite]]:
    """Start local websites for one test; all are shut down afterwards."""
    sites: list[LocalSite] = []

    def start(routes: dict[str, Route]) -> LocalSite:
        site = LocalSite(routes)
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.close()
