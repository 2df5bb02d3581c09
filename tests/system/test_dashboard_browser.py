"""The dashboard in a real browser (Debian's headless Chromium through Selenium), with
a real worker and a production-like web server: an operator logs in, changes a task's
selection, loads a model and watches its status change without reloading the page,
and sees the latency chart fill after inferences. Screenshots at two widths are kept
in var/test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from models_registry.models import InferenceSettings, Task
from tests.factories import UserFactory
from tests.servers import ROOT, needs_program, web_server, worker_process
from tests.traffic import image_b64

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "var" / "test-artifacts"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
# The models table's cells that reach past the window or are not shown at all.
CELLS_OFF_SCREEN = """
return [...document.querySelectorAll('#models table.models tr[data-model] > *')]
  .filter(c => c.offsetParent === null || c.getBoundingClientRect().right > window.innerWidth)
  .map(c => c.closest('tr').dataset.model + ': ' + c.textContent.trim().slice(0, 30));
"""

pytestmark = [
    pytest.mark.subprocess,
    needs_program(HAVE_BROWSER, f"{CHROMIUM} and {CHROMEDRIVER}"),
]


@pytest.fixture
def chrome() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def test_an_operator_drives_the_dashboard_in_a_browser(real_models, chrome, staff_api):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    operator = UserFactory(username="operator", is_staff=True)
    # Hashed as the server (production settings) checks it, not with the tests' fast MD5.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        operator.set_password("zoo-keeper-42")
    operator.save()
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
    wait = WebDriverWait(chrome, 90, poll_frequency=0.3)

    def status_of(model: str) -> str:
        # Read in one script call: the page re-renders the table while it polls, so an
        # element found in one call may be gone by the next.
        return chrome.execute_script(
            "const cell = document.querySelector(arguments[0]);"
            "return cell ? cell.innerText.trim() : '';",
            f'tr[data-model="{model}"] .status',
        )

    with worker_process("sim:71", total_memory_mb=8192), web_server(workers=2) as base:
        chrome.get(f"{base}/admin/login/?next=/")
        chrome.find_element(By.NAME, "username").send_keys("operator")
        chrome.find_element(By.NAME, "password").send_keys("zoo-keeper-42")
        chrome.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "tasks"))
        assert chrome.title == "Model Zoo"
        assert "Signed in as operator" in chrome.find_element(By.CSS_SELECTOR, ".who").text

        # Pick the detection model through the panel. The catalog's summarization model
        # alone needs more than this 8 GB device allows, so the panel warns before the
        # choice is sent, and sending it then is "select anyway"; the choice is persisted.
        panel = chrome.find_element(By.ID, "select-object_detection")
        Select(panel).select_by_value("yolov8s")
        warning = chrome.find_element(By.ID, "warn-object_detection")
        assert warning.is_displayed() and "exceeds" in warning.text
        button = panel.find_element(By.XPATH, "./ancestor::form//button[@type='submit']")
        assert button.text == "Select anyway"
        button.click()
        wait.until(
            lambda d: "object_detection: selected yolov8s (over the memory budget" in d.page_source
        )
        assert Task.objects.get(name="object_detection").selected.name == "yolov8s"

        # Load a model: its status turns to loaded while the page stays (no reload).
        assert status_of("yolo11-face") == "unloaded"
        # Clicked in one script call too: the panel holding the button is refreshed.
        chrome.execute_script(
            "document.querySelector(arguments[0]).click();",
            'button[aria-label="Load yolo11-face"]',
        )
        wait.until(lambda d: "Loading yolo11-face" in d.page_source)
        chrome.execute_script("window.zooMarker = 'same page';")
        wait.until(lambda d: status_of("yolo11-face") == "loaded")
        assert chrome.execute_script("return window.zooMarker") == "same page"

        # Inferences on the selected model fill its latency chart.
        for _ in range(3):
            response = staff_api.post(
                "/api/models/infer?task_type=object_detection",
                {"image": image_b64(320, 240, seed=9)},
                format="json",
            )
            assert response.status_code == 200, response.json()
        chrome.get(f"{base}/?model=yolov8s&since=15&bucket_seconds=10#latency")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg circle"))
        assert "no inferences in this window" not in chrome.find_element(By.ID, "chart").text

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        chrome.get(f"{base}/?model=yolov8s&since=15&bucket_seconds=10")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg circle"))
        for width in (1280, 390):
            chrome.set_window_size(width, 1000)
            wait.until(lambda d, w=width: d.execute_script("return window.innerWidth") <= w)
            # At either width nothing makes the page itself scroll sideways.
            assert chrome.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            )
            # Every column of the models table is on screen, none cut off or hidden in a
            # sideways scroll (at phone width each model is a card).
            assert chrome.execute_script(CELLS_OFF_SCREEN) == []
            wrap = "const w = document.querySelector('#models .table-wrap');"
            assert chrome.execute_script(wrap + "return w.scrollWidth <= w.clientWidth")
            height = chrome.execute_script("return document.documentElement.scrollHeight")
            chrome.set_window_size(width, height + 100)  # the whole page in one picture
            assert chrome.save_screenshot(str(ARTIFACTS / f"dashboard-{width}.png"))
