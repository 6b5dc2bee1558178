"""The `callplane` server-side commands (migrate, bootstrap, keys, tokens, orgs) against their own
fresh SQLite file.

The module's database is migrated and bootstrapped by the real command in subprocesses (the
installed entry point, once); the other commands run in this process (Typer's runner, no
process start), and the credentials they print are verified against the real app in-process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from callplane.auth.scopes import ALL_SCOPES
from callplane.config import Settings
from tests.apps import another_app
from tests.support.cli import invoke
from tests.support.processes import clean_env, modules_loaded_by, run_command

Runner = Callable[..., subprocess.CompletedProcess[str]]
# One pytest-xdist worker runs the module, so its database is migrated and bootstrapped once.
pytestmark = pytest.mark.xdist_group("cli")


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "callplane.db"


@pytest.fixture(scope="module")
def db_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


def runner_on(db_path: Path) -> Runner:
    """The command, in this process, with CALLPLANE_DATABASE_URL set to the SQLite file `db_path`.

    It runs on a thread of its own (the commands run their own event loop), and the caller waits
    for it: from an async test too, whose event loop has nothing to do meanwhile."""
    env = {"CALLPLANE_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}

    def runner(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        with ThreadPoolExecutor(1) as thread:
            result = thread.submit(invoke, list(args), env).result(timeout=60)
        done = subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    return runner


@pytest.fixture(scope="module")
def run(db_path: Path) -> Runner:
    return runner_on(db_path)


@pytest.fixture
def fresh_db(tmp_path: Path) -> Path:
    """A migrated database of its own, with no organization yet."""
    db_path = tmp_path / "fresh.db"
    runner_on(db_path)("migrate")
    return db_path


@pytest.fixture(scope="module")
def bootstrapped(db_url: str) -> dict[str, Any]:
    """What the installed `callplane migrate` and `callplane bootstrap --json` did and printed, in
    processes of their own (the CLI's subprocess smoke test; the rest runs in-process)."""
    env = clean_env(CALLPLANE_DATABASE_URL=db_url)
    migrated = run_command("migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "0001" in migrated.stdout or "migration" in migrated.stdout
    result = run_command("bootstrap", "--org-name", "Acme", "--email", "a@b.c", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


@pytest.fixture(scope="module")
async def app_client(db_url: str, bootstrapped: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The server the operator would start on the same database."""
    async with another_app(Settings(env="test", database_url=db_url)) as client:
        yield client


def organization_count(db_path: Path) -> int:
    with sqlite3.connect(db_path) as connection:
        count: int = connection.execute("SELECT count(*) FROM organizations").fetchone()[0]
    return count


def test_bootstrap_prints_the_credentials(bootstrapped: dict[str, Any]) -> None:
    assert set(bootstrapped) == {
        "organization_id",
        "user_id",
        "api_key",
        "personal_access_token",
    }
    uuid.UUID(bootstrapped["organization_id"])
    uuid.UUID(bootstrapped["user_id"])
    assert bootstrapped["api_key"].startswith("ak_")
    assert bootstrapped["personal_access_token"].startswith("pat_")


async def test_bootstrap_credentials_work(
    app_client: httpx.AsyncClient, bootstrapped: dict[str, Any]
) -> None:
    key_headers = {"Authorization": f"Bearer {bootstrapped['api_key']}"}
    scopes = await app_client.get("/admin/members/me/scopes", headers=key_headers)
    assert scopes.status_code == 200 and scopes.json() == sorted(ALL_SCOPES)
    created = await app_client.post("/core/agents", json={"name": "CLI"}, headers=key_headers)
    assert created.status_code == 201

    token_headers = {
        "Authorization": f"Bearer {bootstrapped['personal_access_token']}",
        "X-Anyreach-Org": bootstrapped["organization_id"],
    }
    listed = await app_client.get("/core/agents", headers=token_headers)
    assert listed.status_code == 200
    assert [a["name"] for a in listed.json()["data"]] == ["CLI"]
    keys = (await app_client.get("/admin/organization-pats", headers=token_headers)).json()["data"]
    assert [k["name"] for k in keys] == ["bootstrap"]


def test_bootstrap_if_empty_does_nothing_on_a_used_database(
    run: Runner, bootstrapped: dict[str, Any], db_path: Path
) -> None:
    before = organization_count(db_path)
    result = run("bootstrap", "--org-name", "Again", "--email", "x@y.z", "--json", "--if-empty")
    assert json.loads(result.stdout) == {"bootstrapped": False}
    human = run("bootstrap", "--org-name", "Again", "--email", "x@y.z", "--if-empty")
    assert "nothing bootstrapped" in human.stdout
    assert "ak_" not in human.stdout and "pat_" not in human.stdout
    assert "callplane keys create --name" in human.stdout  # how to get a key now
    assert "export CALLPLANE_URL=http://127.0.0.1:8000" in human.stdout
    assert organization_count(db_path) == before == 1


async def test_keys_create(
    run: Runner, app_client: httpx.AsyncClient, bootstrapped: dict[str, Any]
) -> None:
    org = bootstrapped["organization_id"]
    result = run("keys", "create", "--org", org, "--name", "n", "--scopes", "agents:read", "--json")
    created = json.loads(result.stdout)
    assert set(created) == {"key_id", "api_key", "scopes", "organization_id"}
    assert created["scopes"] == ["agents:read"] and created["organization_id"] == org
    assert created["api_key"].startswith(f"ak_{created['key_id']}.")

    headers = {"Authorization": f"Bearer {created['api_key']}"}
    assert (await app_client.get("/admin/members/me/scopes", headers=headers)).json() == [
        "agents:read"
    ]
    assert (await app_client.get("/core/agents", headers=headers)).status_code == 200
    denied = await app_client.post("/core/agents", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403


async def test_tokens_create(
    run: Runner, app_client: httpx.AsyncClient, bootstrapped: dict[str, Any]
) -> None:
    result = run("tokens", "create", "--email", "a@b.c", "--json")
    created = json.loads(result.stdout)
    assert set(created) == {"token_id", "personal_access_token", "user_id"}
    assert created["user_id"] == bootstrapped["user_id"]
    assert created["personal_access_token"].startswith(f"pat_{created['token_id']}.")
    headers = {
        "Authorization": f"Bearer {created['personal_access_token']}",
        "X-Anyreach-Org": bootstrapped["organization_id"],
    }
    assert (await app_client.get("/core/agents", headers=headers)).status_code == 200


@pytest.fixture
def pasted_exports(fresh_db: Path) -> tuple[str, dict[str, str]]:
    """A first bootstrap's human output, and what its `export` lines set when pasted into sh."""
    result = runner_on(fresh_db)(
        "bootstrap", "--org-name", "Solo", "--email", "s@o.lo", "--url", "http://127.0.0.1:8123/"
    )
    exports = [line.strip() for line in result.stdout.splitlines() if "export " in line]
    assert [line.split("=")[0] for line in exports] == [
        "export CALLPLANE_URL",
        "export CALLPLANE_API_KEY",
    ]
    shell = subprocess.run(
        ["sh", "-c", "; ".join([*exports, "env"])],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    pasted = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    return result.stdout, {k: v for k, v in pasted.items() if k.startswith("CALLPLANE_")}


async def test_bootstrap_prints_ready_to_paste_exports(
    fresh_db: Path, pasted_exports: tuple[str, dict[str, str]]
) -> None:
    """The human output ends with the shell lines the SDK and the remote commands read, and where
    the docs are; pasted into a shell, the key they set authenticates."""
    printed, pasted = pasted_exports
    assert "http://127.0.0.1:8123/docs" in printed and "README.md" in printed
    assert set(pasted) == {"CALLPLANE_URL", "CALLPLANE_API_KEY"}
    assert pasted["CALLPLANE_URL"] == "http://127.0.0.1:8123"
    assert pasted["CALLPLANE_API_KEY"].startswith("ak_")
    assert f"API key:               {pasted['CALLPLANE_API_KEY']}\n" in printed

    settings = Settings(env="test", database_url=f"sqlite+aiosqlite:///{fresh_db}")
    async with another_app(settings) as client:
        headers = {"Authorization": f"Bearer {pasted['CALLPLANE_API_KEY']}"}
        scopes = await client.get("/admin/members/me/scopes", headers=headers)
    assert scopes.status_code == 200 and scopes.json() == sorted(ALL_SCOPES)


def test_orgs_list(run: Runner, bootstrapped: dict[str, Any]) -> None:
    listed = json.loads(run("orgs", "list", "--json").stdout)
    assert [(o["id"], o["name"]) for o in listed] == [(bootstrapped["organization_id"], "Acme")]
    datetime.fromisoformat(listed[0]["created_at"])
    header, row = run("orgs", "list").stdout.splitlines()
    assert header.split() == ["id", "name", "created_at"]
    assert row.split()[:2] == [bootstrapped["organization_id"], "Acme"]


def test_keys_create_defaults_to_the_only_organization(fresh_db: Path) -> None:
    """--org may be left out while the database holds one organization; with none or several the
    command says what to do, and creates nothing."""
    run = runner_on(fresh_db)

    def refused(reason: str) -> None:
        result = run("keys", "create", "--name", "laptop", check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        message = " ".join(result.stderr.split())
        assert reason in message and "Traceback" not in message, message
        assert "ak_" not in result.stdout
        with sqlite3.connect(fresh_db) as connection:
            assert connection.execute("SELECT count(*) FROM api_keys").fetchone()[0] == keys

    keys = 0
    refused("no organization yet: create one with `callplane bootstrap`")

    solo = json.loads(run("bootstrap", "--org-name", "Solo", "--email", "s@o.lo", "--json").stdout)
    created = json.loads(run("keys", "create", "--name", "laptop", "--json").stdout)
    assert created["organization_id"] == solo["organization_id"]

    other = json.loads(
        run("bootstrap", "--org-name", "Other", "--email", "o@t.hr", "--json").stdout
    )
    keys = 3
    refused("2 organizations: pass --org (see `callplane orgs list`)")
    listed = json.loads(run("orgs", "list", "--json").stdout)
    assert [o["id"] for o in listed] == [solo["organization_id"], other["organization_id"]]


def test_version(run: Runner) -> None:
    assert run("--version").stdout == f"callplane {metadata.version('callplane')}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--org", "not-a-uuid", "--name", "n"), "must be an organization id"),
        (
            ("keys", "create", "--org", "00000000-0000-7000-8000-000000000000", "--name", "n"),
            "no organization 00000000-0000-7000-8000-000000000000",
        ),
        (
            ("keys", "create", "--org", "{org}", "--name", "n", "--scopes", "agents:nuke"),
            "Unknown scopes: agents:nuke.",
        ),
    ],
    ids=["malformed-org", "unknown-org", "unknown-scope"],
)
def test_bad_arguments_are_usage_errors_and_create_nothing(
    run: Runner, bootstrapped: dict[str, Any], db_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Exit status 2 with a one-line reason (no traceback), and no credential is made."""
    args = tuple(a.replace("{org}", bootstrapped["organization_id"]) for a in args)
    with sqlite3.connect(db_path) as connection:
        before = connection.execute(
            "SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM personal_access_tokens)"
        ).fetchone()
    result = run(*args, "--json", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and "raise" not in result.stderr
    assert "ak_" not in result.stdout and "pat_" not in result.stdout
    with sqlite3.connect(db_path) as connection:
        after = connection.execute(
            "SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM personal_access_tokens)"
        ).fetchone()
    assert after == before


def test_the_command_loads_no_server_stack() -> None:
    """Remote commands (agents, plan, apply…) run step after step in CI/CD: starting the command
    must not import the database, migrations, web or workflow stacks (they cost ~1 s per start)."""
    server_side = ["sqlalchemy", "alembic", "fastapi", "uvicorn", "dbos", "asyncpg", "aiosqlite"]
    setup = (
        "import sys, callplane.client, callplane.cli\n"
        "sys.argv = ['callplane', 'agents', '--help']\n"
        "try:\n"
        "    callplane.cli.main()\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert modules_loaded_by(setup, server_side) == []


def test_console_link_prints_a_one_time_link_that_signs_the_admin_in(
    run: Runner, bootstrapped: dict[str, Any], db_url: str
) -> None:
    printed = run("console-link", "--url", "http://console.test:9000", "--json")
    link = json.loads(printed.stdout)
    assert link["url"].startswith("http://console.test:9000/console/login/link?token=")
    assert link["email"] == "a@b.c"
    assert link["organization_id"] == bootstrapped["organization_id"]
    human = run("console-link")
    assert "works once" in human.stdout and "/console/login/link?token=" in human.stdout
    assert run("console-link", "--email", "nobody@b.c", check=False).returncode == 2
