"""The console in a real browser (Debian's chromium, headless): the dev server with a fake WeChat API, and
once under a real Apache in CGI mode. Screenshots of each page go to each test's tmp_path.

Set CONSOLE_DOCS_SCREENSHOT=1 to also refresh docs/console.png (the README's picture) from the dashboard.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests import apache, browser
from tests.console_client import PASSWORD, set_password
from tests.support import ROOT, DevServer, free_port

REASON = browser.why_not_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
FOLLOWER = "oSimulatedFollower0000000000"


def seed_history(data_dir, now):
    """A month of an account's traffic in the message log (none in the last two hours), through the store.

    Gives the daily chart, the outcomes and "last errors" something to show; the tests' own messages
    are the only ones in the current hour.
    """
    import math
    import random

    from wechat.store.sqlite_store import SQLiteStore

    store = SQLiteStore(os.path.join(str(data_dir), "wechat.sqlite3"))
    rng = random.Random(12)
    types = ["text"] * 60 + ["CLICK"] * 15 + ["image"] * 10 + ["subscribe"] * 8 + ["location"] * 4 + ["voice"] * 3
    reply = ("<xml><ToUserName><![CDATA[o]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
             "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content></xml>")
    count, records = 0, []
    for hours_ago in range(3, 30 * 24):
        start = now - hours_ago * 3600
        hour = time.localtime(start).tm_hour
        busy = 1 + 5 * max(0.0, math.sin(math.pi * (hour - 7) / 15)) + (hours_ago < 10 * 24) * 2
        for _ in range(int(rng.expovariate(1 / busy))):
            count += 1
            key = "seed:%d" % count
            msg_type = rng.choice(types)
            roll = rng.random()
            outcome = "reply:text" if roll < .88 else "success" if roll < .975 else "error->success"
            records.append({"received_at": start + rng.random() * 3600, "key": key, "msg_type": msg_type,
                            "source": "oFollower%03d" % rng.randrange(180), "target": "gh_account",
                            "summary": "你好" if msg_type == "text" else "", "raw": "<xml></xml>",
                            "reply": reply % "好你" if outcome == "reply:text" else "success", "outcome": outcome,
                            "latency_ms": round(rng.lognormvariate(1.2, 0.8), 1)})
    store.log_merge(records)
    return count


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The dev server with appid/appsecret pointing at a fake WeChat API, a rules file, the console password."""
    from tests.fake_wechat import FakeWeChat

    home = tmp_path_factory.mktemp("console-site")
    fake = FakeWeChat()
    config = home / "config.ini"
    config.write_text("[wechat]\ntoken = testtoken\nappid = wxtestappid\nappsecret = testsecret\napi_base = %s\n"
                      "[server]\ndata_dir = %s\n[skills]\nrules_file = %s\n"
                      % (fake.url, home / "var", home / "replies.ini"), encoding="utf-8")
    env = {"WECHAT_CONFIG": str(config)}
    set_password(env)
    seed_history(home / "var", time.time())
    with DevServer(env) as server:
        server.fake, server.env, server.rules = fake, env, home / "replies.ini"
        yield server
    fake.stop()


@pytest.fixture(scope="module")
def driver():
    driver = browser.start_browser()
    yield driver
    browser.quit_browser(driver)


@pytest.fixture
def admin(site, driver):
    """The browser, signed in to the dev server's console (each test can run alone)."""
    driver.set_window_size(1280, 900)
    driver.get(site.url + "admin/")
    if "/admin/login" in driver.current_url:
        sign_in(driver, site.url)
    return driver


def simulate(url, env, *messages):
    """`manage.py simulate URL -m ...`, as an admin would run it; returns what it printed."""
    command = [sys.executable, os.path.join(ROOT, "manage.py"), "simulate", url, "--no-verify"]
    for message in messages:
        command += ["-m", *message]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fill(driver, name, value):
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)
    return field


def click(driver, selector=None, element=None):
    """Click a submit button or link and wait for the next page (a click returns before it has loaded)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    page = driver.find_element(By.TAG_NAME, "html")
    for attempt in range(3):
        try:
            (element or driver.find_element(By.CSS_SELECTOR, selector)).click()
            break
        except (StaleElementReferenceException, WebDriverException) as e:
            # chromedriver now and then loses a node it has just found ("does not belong to the document");
            # the click did not happen, so it is safe to find the element again and click once more.
            if element is not None or attempt == 2 or "belong to the document" not in str(e) and \
                    not isinstance(e, StaleElementReferenceException):
                raise
    def page_gone(_):
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:  # chromedriver's other way of saying the page is gone
            if "belong to the document" in str(e):
                return True
            raise

    WebDriverWait(driver, 15).until(page_gone)
    # The old page is gone; the next one may still be arriving (a redirect after a POST): an element found
    # before it is complete can vanish under the next click.
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def text_of(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector).text


def sign_in(driver, base):
    driver.get(base + "admin/")
    assert "/admin/login" in driver.current_url  # no session yet
    fill(driver, "password", PASSWORD)
    click(driver, "button.primary")
    assert driver.current_url.rstrip("/").endswith("/admin"), driver.current_url


# --- the dev server -----------------------------------------------------------------------------

def test_sign_in_and_see_the_chart_of_simulated_messages(site, driver, tmp_path):
    from selenium.webdriver.common.by import By

    simulate(site.url, site.env, ["text", "你好"], ["text", "在吗"], ["subscribe"], ["click", "JOKE"], ["image"])
    driver.get(site.url + "admin/")
    browser.screenshot(driver, tmp_path, "login")
    sign_in(driver, site.url)
    hourly = driver.find_elements(By.CSS_SELECTOR, ".chart")[0]
    # The newest hours' bars: only the messages just simulated (the seeded history stops two hours ago;
    # two slots, in case the simulation crossed the hour).
    slots = hourly.find_elements(By.CSS_SELECTOR, "rect.slot")[-2:]
    counts = {}
    for slot in slots:
        title = slot.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        for name, number in re.findall(r"(\w+) (\d+)[,)]", title.partition("(")[2]):
            counts[name] = counts.get(name, 0) + int(number)
    assert counts == {"text": 2, "CLICK": 1, "image": 1, "subscribe": 1}
    x = float(slots[0].get_attribute("x"))
    segments = [bar for bar in hourly.find_elements(By.CSS_SELECTOR, "rect.bar") if float(bar.get_attribute("x")) >= x]
    assert len(segments) >= 4 and all(float(bar.get_attribute("height")) > 0 for bar in segments)
    legend = [li.text for li in hourly.find_elements(By.CSS_SELECTOR, ".legend li")]
    assert {"text", "CLICK", "image", "subscribe"} <= set(legend)
    path = browser.screenshot(driver, tmp_path, "dashboard")
    if os.environ.get("CONSOLE_DOCS_SCREENSHOT"):
        shutil.copy(path, os.path.join(ROOT, "docs", "console.png"))
    driver.set_window_size(390, 900)  # a phone: the chart scrolls sideways, opened at the newest hours
    browser.screenshot(driver, tmp_path, "dashboard-phone", width=390)
    driver.set_window_size(1280, 900)


def test_a_followers_script_is_shown_as_text(site, admin, tmp_path):
    driver = admin
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    simulate(site.url, site.env, ["text", "<script>alert(1)</script>"])
    driver.get(site.url + "admin/messages")
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.text")]
    assert "<script>alert(1)</script>" in cells
    assert driver.find_elements(By.CSS_SELECTOR, "main script") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    browser.screenshot(driver, tmp_path, "messages")
    fill(driver, "text", "alert")
    click(driver, ".filters button.primary")
    assert "1–1 of 1" in text_of(driver, "main")


def test_keyword_rule_added_in_the_form_answers_a_simulated_message(site, admin, tmp_path):
    driver = admin
    from selenium.webdriver.common.by import By

    driver.get(site.url + "admin/replies")
    click(driver, element=driver.find_element(By.LINK_TEXT, "+ New rule"))
    fill(driver, "name", "hours")
    fill(driver, "keywords", "营业时间, hours")
    fill(driver, "text", "每天 9:00–21:00 营业")
    fill(driver, "help", "营业时间 — 几点开门")
    browser.screenshot(driver, tmp_path, "rule-form")
    click(driver, ".rule-form button.primary")
    assert "Saved" in text_of(driver, ".notice.ok")
    assert "[rule:hours]" in site.rules.read_text(encoding="utf-8")
    fill(driver, "text", "HOURS")
    click(driver, ".try-form button.primary")
    answer = text_of(driver, "#try-answer")
    assert "[rule:hours]" in answer and "每天 9:00–21:00 营业" in answer
    browser.screenshot(driver, tmp_path, "replies")
    printed = simulate(site.url, site.env, ["text", "营业时间"])
    assert "text: 每天 9:00–21:00 营业" in printed
    click(driver, element=driver.find_element(By.LINK_TEXT, "Edit as text"))
    assert "[rule:hours]" in driver.find_element(By.NAME, "text").get_attribute("value")
    browser.screenshot(driver, tmp_path, "rules-text")


def test_menu_pushed_to_wechat_and_fetched_back(site, admin, tmp_path):
    driver = admin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(site.url + "admin/menu")
    fill(driver, "b0_name", "笑话")
    fill(driver, "b0_value", "JOKE")
    fill(driver, "b1_name", "更多")
    fill(driver, "b1s0_name", "官网")
    Select(driver.find_element(By.NAME, "b1s0_type")).select_by_value("view")
    fill(driver, "b1s0_value", "https://example.com/")
    fill(driver, "b1s1_name", "帮助")
    fill(driver, "b1s1_value", "HELP")
    click(driver, "button[value=push]")
    assert "Pushed" in text_of(driver, ".notice.ok")
    assert site.fake.menu == {"button": [
        {"type": "click", "name": "笑话", "key": "JOKE"},
        {"name": "更多", "sub_button": [{"type": "view", "name": "官网", "url": "https://example.com/"},
                                       {"type": "click", "name": "帮助", "key": "HELP"}]}]}
    site.fake.menu["button"][0]["name"] = "段子"  # as if changed elsewhere: fetching must show WeChat's copy
    click(driver, "button[value=fetch]")
    assert "Fetched from WeChat" in text_of(driver, ".notice.ok")
    assert driver.find_element(By.NAME, "b0_name").get_attribute("value") == "段子"
    bar = [span.text for span in driver.find_elements(By.CSS_SELECTOR, ".phone .bar span")]
    assert bar[1:] == ["段子", "更多"]
    assert [s.text for s in driver.find_elements(By.CSS_SELECTOR, ".phone .popup span")] == ["官网", "帮助"]
    browser.screenshot(driver, tmp_path, "menu")


def test_reply_to_a_follower_reaches_the_customer_service_api(site, admin, tmp_path):
    driver = admin
    simulate(site.url, site.env, ["text", "有人在吗"])
    driver.get(site.url + "admin/messages")
    click(driver, "a.openid")  # the newest message's follower
    assert FOLLOWER in text_of(driver, "h1") and "有人在吗" in text_of(driver, ".chat")
    assert "left" in text_of(driver, ".reply-form").lower() or "left" in text_of(driver, "main")
    fill(driver, "text", "您好，我们在的")
    click(driver, ".reply-form button.primary")
    assert text_of(driver, ".notice.ok") == "Sent."
    assert {"touser": FOLLOWER, "msgtype": "text", "text": {"content": "您好，我们在的"}} in site.fake.sent_messages()
    assert "您好，我们在的" in text_of(driver, ".turn.admin .bubble")
    browser.screenshot(driver, tmp_path, "follower")


def test_status_page_runs_the_checks(site, admin, tmp_path):
    driver = admin
    driver.get(site.url + "admin/status")
    main = text_of(driver, "main")
    assert "Deployment checks" in main and "SQLite" in main and "testsecret" not in driver.page_source
    assert "fetched" in main  # the access token the reply above fetched, by its age
    browser.screenshot(driver, tmp_path, "status")


def test_a_post_without_the_csrf_token_is_refused(site, admin, tmp_path):
    driver = admin
    from selenium.webdriver.common.by import By

    before = site.rules.read_text(encoding="utf-8")
    driver.get(site.url + "admin/replies/raw")
    driver.execute_script("document.querySelector('main input[name=csrf]').remove()")
    click(driver, "form button.primary")
    assert text_of(driver, "h1") == "Form expired"
    assert "security token" in text_of(driver, "main")
    assert site.rules.read_text(encoding="utf-8") == before
    browser.screenshot(driver, tmp_path, "csrf-refused")
    click(driver, element=driver.find_element(By.LINK_TEXT, "Back to the console"))
    assert driver.current_url.rstrip("/").endswith("/admin")  # still signed in


def test_five_wrong_passwords_lock_the_address(site, admin, tmp_path):
    driver = admin
    click(driver, "form.signout button")
    assert "signed out" in text_of(driver, ".notice")
    for attempt in range(5):
        fill(driver, "password", "not the password")
        click(driver, "button.primary")
    assert "locked for 15 minutes" in text_of(driver, ".notice.error")
    fill(driver, "password", PASSWORD)
    click(driver, "button.primary")
    assert "locked for 15 more minutes" in text_of(driver, ".notice.error")
    assert "/admin/login" in driver.current_url
    browser.screenshot(driver, tmp_path, "locked")


# --- once under a real Apache, CGI --------------------------------------------------------------

APACHE_REASON = apache.why_not_available()
TOKEN = "consoleApacheToken7"


def deploy(venv_python, app, port, allow):
    vhost = os.path.join(os.path.dirname(app), "vhost.conf")
    result = subprocess.run([venv_python, os.path.join(app, "manage.py"), "deploy", "--mode", "cgi", "--flavour",
                             "debian", "--server-name", "127.0.0.1", "--port", str(port), "--output", vhost,
                             "--admin-allow", allow], capture_output=True, text=True, cwd=app, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    assert result.returncode == 0, result.stderr
    return vhost


@pytest.mark.skipif(APACHE_REASON is not None, reason=APACHE_REASON or "")
def test_console_under_apache_cgi(driver, tmp_path):
    from selenium.webdriver.common.by import By


    venv_python = apache.apache_venv()
    base, app = apache.make_app_copy(TOKEN)
    env = {"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")}
    # As root, like `sudo manage.py admin-password`: the file goes to the data dir's owner, www-data.
    result = subprocess.run([venv_python, os.path.join(app, "manage.py"), "admin-password"], input=PASSWORD + "\n",
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    port = free_port()
    server = apache.Apache(base, deploy(venv_python, app, port, "127.0.0.1"), port)
    server.start()
    try:
        printed = subprocess.run([venv_python, os.path.join(app, "manage.py"), "simulate", server.url, "--no-verify",
                                  "--token", TOKEN, "-m", "text", "你好，阿帕奇", "-m", "subscribe"],
                                 capture_output=True, text=True, env=env, timeout=60)
        assert printed.returncode == 0, printed.stdout + printed.stderr
        sign_in(driver, server.url)
        bars = driver.find_elements(By.CSS_SELECTOR, ".chart")[0].find_elements(By.CSS_SELECTOR, "rect.bar")
        assert len(bars) == 2 and text_of(driver, ".figure .value") == "2"
        assert driver.execute_script("return getComputedStyle(document.querySelector('header.top')).display") == "flex"
        browser.screenshot(driver, tmp_path, "apache-dashboard")
        driver.get(server.url + "admin/messages")
        assert "你好，阿帕奇" in text_of(driver, "main")
        browser.screenshot(driver, tmp_path, "apache-messages")
        assert "Traceback" not in server.error_log()

        # Only the allowed network reaches the console; the endpoint stays open.
        server.stop()
        server = apache.Apache(base, deploy(venv_python, app, port, "192.0.2.0/24"), port)
        server.start()
        from admin import simulator

        assert simulator.http("GET", server.url + "admin/login").status == 403
        assert simulator.http("GET", server.url + "admin/").status == 403
        assert simulator.http("GET", server.url).status == 200
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
