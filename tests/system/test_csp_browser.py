"""The Content-Security-Policy as a browser applies it: the dashboard, the admin's login
and Swagger UI load and run under it with no violation in the console."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import needs_program, web_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    needs_program(bool(shutil.which("chromium") and shutil.which("chromedriver")), "chromium"),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def violations(browser: Any) -> list[str]:
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def test_pages_run_under_the_policy_without_violations(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with web_server() as base:
        found = {}
        for page in ("/", "/admin/login/", "/api/docs/"):
            browser.get(base + page)
            found[page] = violations(browser)
        # Swagger UI fetches the schema, then draws one block per operation.
        wait = WebDriverWait(browser, 60)
        operations = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
        found["/api/docs/"] += violations(browser)

    assert found == {"/": [], "/admin/login/": [], "/api/docs/": []}
    assert len(operations) > 10  # Swagger UI drew the schema's operations
