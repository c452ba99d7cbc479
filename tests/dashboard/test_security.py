"""Headers and cookies every dashboard page carries: CSP, CSRF, secure cookies, sign-in lock-out."""

import os
import subprocess
import sys

from django.test import Client

from tests import factories
from tests.support.services import REPO


def test_pages_carry_a_strict_content_security_policy(db):
    user = factories.user(factories.tenant())
    client = Client()
    client.force_login(user)
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_a_form_post_without_the_csrf_token_is_refused(db):
    tenant = factories.tenant()
    other = factories.tenant()
    user = factories.user(tenant)
    factories.Membership.objects.create(user=user, tenant=other, role="viewer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/tenant/switch/", {"tenant": other.pk}).status_code == 403
    page = client.get("/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page  # every form on the page carries it


def test_cookies_are_secure_when_served_over_https():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PUBLIC_BASE_URL": "https://app.example",
    }
    env.pop("DEBUG", None)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.DEBUG)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True", "True", "False"], out.stderr


def test_sign_in_locks_after_repeated_failures_for_that_user_and_address(db, settings):
    factories.user(factories.tenant(), email="kt@example.com")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = client.post("/accounts/login/", {"username": "kt@example.com", "password": "nope"})
        assert answer.status_code == 200  # the form again, with its error
    locked = client.post("/accounts/login/", {"username": "kt@example.com", "password": "nope"})
    assert locked.status_code == 429
    right = client.post("/accounts/login/", {"username": "kt@example.com", "password": "pw"})
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # another user from the same address is not locked out by someone else's typos
    factories.user(factories.tenant(), email="other@example.com")
    other = client.post("/accounts/login/", {"username": "other@example.com", "password": "pw"})
    assert other.status_code == 302
