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
    logged = [r["key"].split(":")[1] for r in records]  # msg:<MsgId>:<sender>
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


# --- keys scoped to the sender and the body ----------------------------------------------------

def test_another_senders_msgid_gets_its_own_answer(server):
    victim = simulator.text("count", source="oVICTIM")
    msg_id = parse_xml(victim)["MsgId"]
    attacker = victim.replace(b"oVICTIM", b"oATTACKER")
    first = deliver(server, victim, simulator.signed_query(TOKEN))
    second = deliver(server, attacker, simulator.signed_query(TOKEN))
    assert parse_xml(first.body)["ToUserName"] == "oVICTIM"
    assert parse_xml(second.body)["ToUserName"] == "oATTACKER"  # never the victim's stored reply
    assert server.counter.read_text().split() == [msg_id, msg_id]


def test_subscribe_and_scan_in_one_second_get_two_answers(server):
    subscribe = simulator.subscribe(create_time=1700000500)
    scan = simulator.event("SCAN", "42", {"Ticket": "t"}, create_time=1700000500)
    first = deliver(server, subscribe, simulator.signed_query(TOKEN))
    second = deliver(server, scan, simulator.signed_query(TOKEN))
    assert b"CDATA" in first.body and "帮助" in parse_xml(first.body)["Content"]
    assert b"retry" not in second.body and second.body != first.body
    outcomes = [r["outcome"] for r in exported(server)]
    assert not any(o.startswith("retry") for o in outcomes), outcomes


def test_the_same_key_with_another_body_is_answered_as_new_and_logged_as_a_conflict(server):
    body = simulator.text("count")
    other = body.replace(b"count", b"count 0.0")  # same sender and MsgId, another text
    first = deliver(server, body, simulator.signed_query(TOKEN))
    second = deliver(server, other, simulator.signed_query(TOKEN))
    again = deliver(server, other, simulator.signed_query(TOKEN))
    assert first.status == second.status == 200 and again.body == second.body
    assert len(server.counter.read_text().split()) == 2
    records = exported(server)
    assert len(records) == 2 and records[1]["outcome"].startswith("conflict:")
    assert records[1]["summary"] == "count 0.0" and records[0]["summary"] == "count"


# --- replayed query strings (issue 16's nonce memory rides on the claim) -----------------------

def test_a_replayed_query_string_with_a_new_body_is_refused(server):
    query = simulator.signed_query(TOKEN)
    first = deliver(server, simulator.text("count"), query)
    replay = deliver(server, simulator.text("count", source="oATTACKER"), query)
    retry_of_first = simulator.text("x")  # any new body, even from the same follower
    assert first.status == 200
    assert replay.status == 403 and b"replayed" in replay.body
    assert deliver(server, retry_of_first, query).status == 403
    assert len(server.counter.read_text().split()) == 1


def test_a_retry_with_the_identical_body_inside_the_window_gets_the_same_reply(server):
    body, query = simulator.text("count"), simulator.signed_query(TOKEN)
    first = deliver(server, body, query)
    retry = deliver(server, body, query)  # same query string, same body: WeChat retrying
    resigned = deliver(server, body, simulator.signed_query(TOKEN))  # a retry signed afresh
    assert first.status == retry.status == resigned.status == 200
    assert first.body == retry.body == resigned.body
    assert len(server.counter.read_text().split()) == 1


def exported(server):
    return [json.loads(line) for line in export(server, "--format", "jsonl").splitlines()]
