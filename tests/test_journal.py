"""WeChat's retries: the skill runs once, every delivery gets the same reply, and every message is in the log."""

import csv
import io
import json
import os
import subprocess
import sys
import threading

import pytest

from tests.support import ROOT, TOKEN, DevServer
from admin import simulator
from wechat.xmlparse import parse_xml


@pytest.fixture
def server(store_env, tmp_path):
    counter = tmp_path / "runs.txt"
    counter.write_text("")
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n" % TOKEN)
    env = {k: v for k, v in store_env.items() if k.startswith("WECHAT_")}
    env.update(WECHAT_CONFIG=str(config), WECHAT_SKILL_MODULES="tests.counting_skill",
               COUNTING_SKILL_FILE=str(counter), WECHAT_REPLY_BUDGET_SECONDS="3")
    with DevServer(env) as running:
        running.counter, running.env = counter, env
        yield running


def deliver(server, body, query):
    return simulator.http("POST", server.url, query, body)


def test_three_sequential_deliveries_run_the_skill_once(server):
    body = simulator.text("count")
    query = simulator.signed_query(TOKEN)
    replies = [deliver(server, body, query) for _ in range(3)]
    assert [r.status for r in replies] == [200] * 3
    assert replies[0].body == replies[1].body == replies[2].body
    assert parse_xml(replies[0].body)["Content"].startswith("counted ")
    assert len(server.counter.read_text().split()) == 1


def test_concurrent_deliveries_of_a_slow_skill_run_it_once_and_share_the_reply(server):
    body = simulator.text("count 1.0")
    query = simulator.signed_query(TOKEN)
    replies = [None] * 3

    def send(i):
        replies[i] = deliver(server, body, query)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(server.counter.read_text().split()) == 1
    assert {r.body for r in replies} == {replies[0].body} and b"counted" in replies[0].body


def test_a_retry_that_outlives_the_budget_gets_success(server):
    body = simulator.text("count 4.5")  # longer than the 3 s budget this server has
    query = simulator.signed_query(TOKEN)
    first = []
    thread = threading.Thread(target=lambda: first.append(deliver(server, body, query)))
    thread.start()
    import time

    time.sleep(0.5)
    retry = deliver(server, body, query)
    thread.join(30)
    assert retry.body == b"success"
    assert b"counted" in first[0].body
    assert len(server.counter.read_text().split()) == 1


def test_events_are_deduplicated_by_sender_and_time(server):
    body = simulator.subscribe(create_time=1700000000)
    query = simulator.signed_query(TOKEN)
    first, second = deliver(server, body, query), deliver(server, body, query)
    assert first.body == second.body and b"CDATA" in first.body
    later = deliver(server, simulator.subscribe(create_time=1700000001), simulator.signed_query(TOKEN))
    assert later.status == 200


def export(server, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export", *args],
                            env=dict(os.environ, **server.env), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_message_of_a_load_run_is_in_the_log(server):
    """200 messages from 8 threads, a quarter of them delivered twice: each logged exactly once."""
    bodies = [simulator.text("load %d 中文" % i) for i in range(200)]
    queries = {body: simulator.signed_query(TOKEN) for body in bodies}  # a retry repeats its query
    statuses = []

    def worker(chunk):
        for body in chunk:
            statuses.append(deliver(server, body, queries[body]).status)

    threads = [threading.Thread(target=worker, args=(bodies[i::8] + bodies[i:50:8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * len(statuses) and len(statuses) == 250
    records = [json.loads(line) for line in export(server, "--format", "jsonl").splitlines()]
    sent_ids = {parse_xml(b)["MsgId"] for b in bodies}
    logged = [r["key"].rsplit(":", 1)[1] for r in records]
    assert sorted(logged) == sorted(sent_ids)  # every one, once
    sample = next(r for r in records if r["summary"] == "load 7 中文")
    assert sample["msg_type"] == "text" and sample["source"] == simulator.FOLLOWER
    assert parse_xml(sample["reply"].encode())["Content"] == "文中 7 daol"
    assert parse_xml(sample["raw"].encode())["Content"] == "load 7 中文"  # the message as it came


def test_export_as_csv_to_a_file_with_a_time_window(server, tmp_path):
    deliver(server, simulator.text("csv 导出"), simulator.signed_query(TOKEN))
    out = tmp_path / "log.csv"
    export(server, "--format", "csv", "--since", "2000-01-01", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[-1]["summary"] == "csv 导出" and rows[-1]["msg_type"] == "text" and "出导 vsc" in rows[-1]["reply"]
    assert export(server, "--since", "2999-01-01") == ""


def test_export_rejects_a_bad_date(server):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), "export", "--since", "yesterday"],
                            env=dict(os.environ, **server.env), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not a date" in result.stderr
