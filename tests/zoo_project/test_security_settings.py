"""Deployment security: a Content-Security-Policy on every page that the dashboard, the
admin and Swagger UI live with; ZOO_PRODUCTION turning on HTTPS redirects, secure
cookies and HSTS, each setting overridable by its own variable."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.django_db

SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER', 'ZOO_CSP')}))"
)


def settings_under(**variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "ZOO_"))}
    env |= {"DJANGO_SETTINGS_MODULE": "zoo_project.settings.base", "SECRET_KEY": "x" * 60}
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env=env | variables,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_every_page_carries_the_content_security_policy(api, settings):
    pages = ["/", "/api/system/models", "/admin/login/", "/api/docs/", "/healthz"]

    policies = {page: api.get(page)["Content-Security-Policy"] for page in pages}

    assert policies["/"] == settings.ZOO_CSP
    assert "script-src 'self';" in policies["/"] and "'unsafe-inline'" not in (
        policies["/"].replace("style-src-attr 'unsafe-inline'", "")
    )
    assert "frame-ancestors 'none'" in policies["/api/system/models"]
    # Swagger UI's page has one inline style block; still no inline script.
    assert "style-src 'self' 'unsafe-inline'" in policies["/api/docs/"]
    assert "script-src 'self';" in policies["/api/docs/"]
    assert api.get("/api/docs/")["X-Frame-Options"] == "DENY"


def test_the_docs_page_runs_no_inline_script(api):
    page = api.get("/api/docs/").content.decode()

    assert "<script>" not in page  # its set-up script comes from this site too


def test_an_empty_policy_sends_no_header(api, settings):
    settings.ZOO_CSP = ""

    assert "Content-Security-Policy" not in api.get("/")


def test_by_default_nothing_forces_https():
    shown = settings_under()

    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SESSION_COOKIE_SECURE"] is False and shown["SECURE_PROXY_SSL_HEADER"] is None


def test_the_production_preset_turns_on_https_secure_cookies_and_hsts():
    shown = settings_under(ZOO_PRODUCTION="true")

    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SESSION_COOKIE_SECURE"] is True and shown["CSRF_COOKIE_SECURE"] is True
    assert shown["SECURE_HSTS_SECONDS"] == 31_536_000
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_each_setting_of_the_preset_is_overridable():
    shown = settings_under(
        ZOO_PRODUCTION="true",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        ZOO_TRUST_X_FORWARDED_PROTO="false",
        ZOO_CSP="default-src 'none'",
    )

    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_HSTS_SECONDS"] == 600
    assert shown["SECURE_PROXY_SSL_HEADER"] is None and shown["ZOO_CSP"] == "default-src 'none'"
    assert shown["SESSION_COOKIE_SECURE"] is True  # the rest of the preset stands


def test_django_deployment_checks_pass_under_the_preset():
    """Only the two HSTS options that bind other hosts (subdomains, the browsers'
    preload list) stay the operator's choice."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "ZOO_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "zoo_project.settings.base",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "zoo.example.com",
        "ZOO_PRODUCTION": "true",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    found = {word for word in done.stderr.split() if word.startswith("(security.")}
    assert found <= {"(security.W005)", "(security.W021)"}, done.stderr


def test_https_requests_get_hsts_and_plain_ones_are_redirected(api, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    plain = api.get("/api/system/models")
    behind_tls = api.get("/api/system/models", HTTP_X_FORWARDED_PROTO="https")
    probe = api.get("/healthz")

    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert behind_tls.status_code == 200
    assert behind_tls["Strict-Transport-Security"] == "max-age=3600"
    assert probe.status_code == 200  # health probes stay on plain HTTP
