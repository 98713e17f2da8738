"""A real browser for tests: Debian's chromium driven by selenium through chromium-driver, headless.

No browser download: the system's /usr/bin/chromium and /usr/bin/chromedriver, or the test skips.
"""

import os
import shutil
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def why_not_available():
    if not os.path.exists(CHROMIUM) or not os.path.exists(CHROMEDRIVER):
        return "chromium and chromium-driver are not installed (bash tests/run.sh installs them as root)"
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -r requirements-test.txt)"
    return None


def start_browser(width=1280, height=900):
    """A fresh headless chromium with its own profile folder (removed by quit_browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="wechat-chromium-")
    options.add_argument("--user-data-dir=" + profile)
    options.add_argument("--window-size=%d,%d" % (width, height))
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.profile_dir = profile
    return driver


def quit_browser(driver):
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


def screenshot(driver, folder, name, width=1280):
    """The whole page as folder/name.png (the window is stretched to the page's height first)."""
    driver.set_window_size(width, 900)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(int(height) + 40, 6000))
    path = os.path.join(str(folder), name + ".png")
    driver.save_screenshot(path)
    return path
