"""`/docs` in a real browser: Debian's chromium, driven through its chromedriver by Selenium,
against a live gunicorn. Needs the `chromium` and `chromium-driver` packages (`.ci/run`
installs them); without them this test fails rather than skips."""

from __future__ import annotations

import shutil

import pytest
import requests
from conftest import LiveServer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

# Generous bounds for a shared 2-core machine: how long to wait for the page, not a measure.
PAGE_WAIT = 60


def _system_browser() -> tuple[str, str]:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    assert browser and driver, "install Debian's chromium and chromium-driver (bash .ci/run does)"
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _system_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def docs_server(database_url):
    server = LiveServer(database_url, workers=1).start()
    yield server
    server.stop()


def _wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, PAGE_WAIT)


def test_docs_render_every_operation_of_the_spec(browser, docs_server, app):
    spec = requests.get(docs_server.url + "/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.1")
    operations = sum(
        1
        for item in spec["paths"].values()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    )
    browser.get(docs_server.url + "/docs")
    _wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= operations)
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Unable to render this definition" not in page
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
    assert browser.find_elements(By.CSS_SELECTOR, '.opblock-summary-path[data-path="/v1/entries/{entry_id}"]')
    # Every script and stylesheet came from this server (no CDN: carrier networks are closed).
    sources = browser.execute_script(
        "return [...document.scripts].map(s => s.src).concat("
        "[...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href)).filter(Boolean)"
    )
    assert sources and all(source.startswith(docs_server.url + "/") for source in sources), sources


def test_try_it_out_on_healthz_shows_a_200(browser, docs_server):
    browser.get(docs_server.url + "/docs")
    summary = _wait(browser).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '.opblock-get .opblock-summary-path[data-path="/healthz"]'))
    )
    block = summary.find_element(By.XPATH, "./ancestor::div[contains(@class, 'opblock ')]")
    browser.execute_script("arguments[0].scrollIntoView()", summary)
    summary.click()
    _wait(browser).until(lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    execute = _wait(browser).until(lambda d: block.find_element(By.CSS_SELECTOR, ".btn.execute"))
    execute.click()
    status = _wait(browser).until(
        lambda d: block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status")
    )
    assert status.text.strip() == "200"
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_description").text
    assert '"status": "ok"' in body
