"""Browser tests: Playwright driving Debian's Chromium against the app on pytest-django's live server.

Chromium comes from the OS (`/usr/bin/chromium`, Debian package `chromium`), not from Playwright's own
download. Every page is watched for Content-Security-Policy violations and uncaught script errors: a page
that breaks the policy fails its test. Each test leaves a screenshot of its final page in test-output/.
"""

import os
import shutil

import pytest

from tests.conftest import _need

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test's thread; Django's ORM must still be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _need(f"Chromium not found at {CHROMIUM} (Debian package `chromium`)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",  # this machine's closed network refuses them anyway
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "vi-VN", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def page(page, request, output_dir):
    """A page that records policy violations and script errors, and is photographed at the end."""
    problems = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.set_default_timeout(10_000)
    yield page
    page.screenshot(path=os.path.join(output_dir, "final.png"), full_page=True)
    # 404 and 403 pages log "Failed to load resource" for themselves: those are answers the test expects.
    unexpected = [p for p in problems if "Failed to load resource" not in p]
    assert not unexpected, "The page broke the Content-Security-Policy or threw:\n" + "\n".join(unexpected)


@pytest.fixture
def sign_in(page, live_server):
    """Sign in through the real form (on the live server, or on `base`); returns the base URL."""

    def go(email, password="pw", base=None):
        base = base or live_server.url
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("form.login button[type=submit]")
        return base

    return go
