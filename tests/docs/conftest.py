"""One fresh `callplane serve` for every docs test, set up the way a user's first hour starts: a
new SQLite database, migrated, `callplane bootstrap`, and a website (on 127.0.0.1) for
create-from-website to crawl.

It always runs on its own SQLite database, whatever database the suite uses: the docs tests use
no database fixture, so they are `nodb` tests, left out of the PostgreSQL run (the endpoints they
walk through are tested on PostgreSQL by their own tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callplane.db import migrate
from tests.support.processes import COMMAND, clean_env, server
from tests.support.site import LocalSite, html

ACME_DENTAL = {
    "/": html(
        "<h1>Acme Dental</h1><p>Family dentistry in Springfield since 1998. Cleanings, check-ups"
        " and whitening. Open Monday to Friday, 9am to 5pm.</p><a href='/contact'>Contact</a>",
        head="<title>Acme Dental</title>",
    ),
    "/contact": html(
        "<h1>Contact Acme Dental</h1><p>Call +1 415 555 0100 or write to hello@acme-dental.test."
        " 12 Main Street, Springfield.</p>",
        head="<title>Contact - Acme Dental</title>",
    ),
}


@dataclass(frozen=True)
class DocsServer:
    url: str
    website: str
    quickstart_key: str  # an organization of its own for the quickstart script
    examples_key: str  # another for the Python examples

    def environment(self, api_key: str) -> dict[str, str]:
        """What a reader has exported: the server, a key, and the site to build agents from."""
        return clean_env(
            CALLPLANE_URL=self.url,
            CALLPLANE_API_KEY=api_key,
            EXAMPLE_WEBSITE=self.website,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )


def _callplane(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _output(command: subprocess.Popen[str]) -> str:
    stdout, stderr = command.communicate(timeout=120)
    assert command.returncode == 0, stderr
    return stdout


def _bootstrap(env: dict[str, str], name: str) -> subprocess.Popen[str]:
    return _callplane(
        env, "bootstrap", "--org-name", name, "--email", f"{name}@docs.test", "--json"
    )


def _api_key(bootstrap: subprocess.Popen[str]) -> str:
    return str(json.loads(_output(bootstrap))["api_key"])


@pytest.fixture(scope="package")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsServer]:
    directory = tmp_path_factory.mktemp("docs-server")
    env = clean_env(
        CALLPLANE_DATABASE_URL=f"sqlite+aiosqlite:///{directory / 'callplane.db'}",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",  # the site is on 127.0.0.1
        CALLPLANE_LOG_LEVEL="WARNING",
    )
    migrate.upgrade(env["CALLPLANE_DATABASE_URL"])  # what `callplane migrate` does
    # the organizations are made while the server starts (SQLite takes both writers, in turn)
    bootstraps = _bootstrap(env, "quickstart"), _bootstrap(env, "examples")
    served = server(env, directory / "server.log")
    site = LocalSite(dict(ACME_DENTAL))
    try:
        quickstart_key, examples_key = (_api_key(bootstrap) for bootstrap in bootstraps)
        asyncio.run(served.wait_healthy())
        yield DocsServer(served.url or "", site.url, quickstart_key, examples_key)
    finally:
        site.close()
        if served.popen.poll() is None:
            served.kill()
        for bootstrap in bootstraps:
            if bootstrap.poll() is None:
                bootstrap.kill()
