"""A real browser for the console and widget tests: Playwright for Python driving Debian's
`chromium` (never Playwright's own download, which this machine cannot reach).

`.ci/run` installs chromium when it is missing; without it the browser tests are skipped with the
reason (see docs/console.md, "Browser tests").
"""

from __future__ import annotations

import shutil

# What headless chromium needs when run as root in a container, and what keeps it from calling
# home (tests reach only 127.0.0.1).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")
