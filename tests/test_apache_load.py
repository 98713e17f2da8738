"""Load and faults through a real Apache with mod_fcgid: concurrent retries, and the FastCGI process SIGKILLed mid-run."""

import json
import os
import random
import sqlite3
import subprocess
import threading
import time

import pytest

from tests import apache
from tests.support import free_port
from admin import simulator
from wechat.xmlparse import parse_xml

REASON = apache.why_not_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
TOKEN = "loadTestToken"

COUNTING_SKILL = '''
"""Counts its runs in var/runs.txt (one line per run) to prove each message ran the skill once."""
import os
import time
from handlers.skills.registry import on

RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "var", "runs.txt")


@on.regex(r"^load ")
def counted(message, ctx):
    with open(RUNS, "a") as f:
        f.write(message.message_id + "\\n")
    return "ran " + message.message_id


@on.regex(r"^slow ")
def slow(message, ctx):
    with open(RUNS, "a") as f:
        f.write(message.message_id + "\\n")
    time.sleep(float(message.content.split()[1]))
    return "slow ran " + message.message_id
'''


@pytest.fixture(scope="module")
def fcgid():
    python = apache.apache_venv()
    base, app = apache.make_app_copy(TOKEN)
    with open(os.path.join(app, "counting_skill.py"), "w") as f:
        f.write(COUNTING_SKILL)
    with open(os.path.join(app, "config.ini"), "a") as f:
        # A short budget: a claim's lease (budget + 0.5 s) runs out sooner in the SIGKILL test.
        f.write("[server]\nreply_budget_seconds = 2\n[skills]\nskill_modules = counting_skill\n")
    for name in ("var/messages.log",):
        os.remove(os.path.join(app, name))
    port = free_port()
    vhost = os.path.join(base, "vhost.conf")
    subprocess.run([python, os.path.join(app, "manage.py"), "deploy", "--mode", "fcgid", "--port", str(port),
                    "--server-name", "127.0.0.1", "--output", vhost], check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(app, "config.ini")})
    server = apache.Apache(base, vhost, port).start()
    server.app, server.python = app, python
    yield server
    server.stop()


def send_all(server, jobs, threads=8, on_result=None):
    """Send (body, query) jobs from `threads` workers; returns [(job index, status, body)]."""
    results, lock = [], threading.Lock()
    queue = list(enumerate(jobs))

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                index, (body, query) = queue.pop()
            try:
                response = simulator.http("POST", server.url, query, body, timeout=20)
                outcome = (index, response.status, response.body)
            except OSError as e:
                outcome = (index, 0, str(e).encode())
            with lock:
                results.append(outcome)
            if on_result:
                on_result(outcome)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    return results


def logged_keys(server):
    result = subprocess.run([server.python, os.path.join(server.app, "manage.py"), "export", "--format", "jsonl"],
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "WECHAT_CONFIG": os.path.join(server.app, "config.ini")})
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["key"] for line in result.stdout.splitlines()]


def runs(server):
    path = os.path.join(server.app, "var", "runs.txt")
    return open(path).read().split() if os.path.exists(path) else []


def test_concurrent_retries_under_load_run_each_skill_once(fcgid):
    bodies = [simulator.text("load %d" % i) for i in range(150)]
    jobs = [(b, simulator.signed_query(TOKEN)) for b in bodies for _ in range(3)]  # each delivered three times
    random.Random(7).shuffle(jobs)
    results = send_all(fcgid, jobs)
    assert len(results) == 450
    assert all(status == 200 for _, status, _ in results), [r for r in results if r[1] != 200][:3]
    by_message = {}
    for index, _, body in results:
        by_message.setdefault(jobs[index][0], set()).add(body)
    replayed = [replies for replies in by_message.values() if replies != {b"success"}]
    assert all(len(replies - {b"success"}) == 1 for replies in replayed)  # retries got the same bytes
    ids = sorted(parse_xml(b)["MsgId"] for b in bodies)
    assert sorted(r for r in runs(fcgid) if r in set(ids)) == ids  # each skill ran once per message
    logged_ids = [k.split(":")[1] for k in logged_keys(fcgid) if k.startswith("msg:")]
    assert sorted(i for i in logged_ids if i in set(ids)) == ids  # each message logged exactly once


def fcgid_pids(server):
    pattern = os.path.join(server.app, "code.py") + " fcgi"
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def test_a_retry_after_the_first_process_was_killed_mid_skill_is_answered_by_the_skill(fcgid):
    """The first delivery claims the message and dies (SIGKILL) inside a slow skill; WeChat's retry, once
    the claim's lease (budget 2 s + 0.5) has run out, takes the message over and the skill answers it."""
    body, query = simulator.text("slow 1.5 killed"), simulator.signed_query(TOKEN)
    msg_id = parse_xml(body)["MsgId"]
    first = threading.Thread(target=lambda: simulator.http("POST", fcgid.url, query, body, timeout=20))
    before = set(fcgid_pids(fcgid))
    first.start()
    deadline = time.monotonic() + 10
    while msg_id not in runs(fcgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert msg_id in runs(fcgid), "the slow skill never started"
    for pid in set(fcgid_pids(fcgid)) | before:  # the one running the skill is among them
        subprocess.run(["kill", "-KILL", pid])
    first.join(30)
    time.sleep(2.6)  # WeChat retries after 5 s; here the lease is 2.5 s
    retry = simulator.http("POST", fcgid.url, query, body, timeout=20)
    assert retry.status == 200 and parse_xml(retry.body)["Content"] == "slow ran " + msg_id
    assert runs(fcgid).count(msg_id) == 2  # the killed run and the retry's; nothing answered "success"
    again = simulator.http("POST", fcgid.url, query, body, timeout=20)
    assert again.body == retry.body  # later retries replay the retry's reply


def test_sigkill_of_the_fastcgi_process_mid_load(fcgid):
    bodies = [simulator.text("load kill %d" % i) for i in range(240)]
    acknowledged, killed, victims = [], threading.Event(), []
    lock = threading.Lock()

    def on_result(outcome):
        index, status, body = outcome
        if status == 200 and body.startswith(b"<xml>"):
            with lock:
                acknowledged.append(index)
                if len(acknowledged) == 80 and not killed.is_set():
                    killed.set()
                    pattern = os.path.join(fcgid.app, "code.py") + " fcgi"
                    victims.extend(subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split())
                    subprocess.run(["pkill", "-KILL", "-f", pattern])

    results = send_all(fcgid, [(b, simulator.signed_query(TOKEN)) for b in bodies], threads=6, on_result=on_result)
    assert killed.is_set() and victims, "no FastCGI process was found to kill"
    statuses = [status for _, status, _ in results]
    assert statuses.count(200) >= 200, statuses  # Apache started a new process and serving went on
    ok = simulator.post_message(fcgid.url, TOKEN, simulator.text("after the kill"))
    assert ok.status == 200 and parse_xml(ok.body)["Content"] == "llik eht retfa"
    logged = set(logged_keys(fcgid))
    answered = [i for i, status, body in results if status == 200 and body.startswith(b"<xml>")]
    keys = {"msg:%s:%s" % (parse_xml(b)["MsgId"], simulator.FOLLOWER) for b in bodies}
    for index in answered:  # every message whose reply left the server, before and after the kill, is in the log
        assert "msg:%s:%s" % (parse_xml(bodies[index])["MsgId"], simulator.FOLLOWER) in logged
    assert len([k for k in logged_keys(fcgid) if k in keys]) == len(logged & keys)  # none twice
    database = sqlite3.connect(os.path.join(fcgid.app, "var", "wechat.sqlite3"))
    assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
