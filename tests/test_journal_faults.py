"""The journal under faults: a hung or stopped Redis, a locked SQLite, a read-only or full data dir.

Every follower is answered inside the reply budget, and every answered message is in the export
after recovery, exactly once.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import ROOT, TOKEN, DevServer, fill_disk
from admin import simulator
from wechat.xmlparse import parse_xml

BUDGET = 2.0


def start(tmp_path, data_dir, **env):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\ndata_dir = %s\nreply_budget_seconds = %s\n"
                      % (TOKEN, data_dir, BUDGET))
    return DevServer(dict(env, WECHAT_CONFIG=str(config)))


def timed_post(server, text):
    started = time.monotonic()
    response = simulator.post_message(server.url, TOKEN, simulator.text(text))
    return response, time.monotonic() - started


def manage(server, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "manage.py"), *args], env=server.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def exported_summaries(server):
    return [json.loads(line)["summary"] for line in manage(server, "export", "--format", "jsonl").splitlines()]


def assert_answered(response, text):
    assert response.status == 200 and parse_xml(response.body)["Content"] == text[::-1]


@pytest.fixture
def own_redis():
    from tests.redis_server import RedisServer, why_not_available

    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    server = RedisServer()
    yield server
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def test_a_hung_redis_costs_a_follower_less_than_the_budget_and_loses_nothing(own_redis, tmp_path):
    with start(tmp_path, tmp_path / "var", WECHAT_REDIS_URL=own_redis.url) as server:
        before, _ = timed_post(server, "before the hang")
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            during = [timed_post(server, "hung %d" % i) for i in range(4)]
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        time.sleep(1.1)  # this process tries the store again a second after it failed
        after, _ = timed_post(server, "after the hang")
        assert not list((tmp_path / "var").glob("journal*.log"))  # the spool merged by itself
        summaries = exported_summaries(server)
    assert_answered(before, "before the hang") and assert_answered(after, "after the hang")
    for i, (response, seconds) in enumerate(during):
        assert_answered(response, "hung %d" % i)
        assert seconds < BUDGET, seconds  # Redis' own client would wait 5 s
    expected = ["before the hang"] + ["hung %d" % i for i in range(4)] + ["after the hang"]
    assert sorted(summaries) == sorted(expected)


def test_a_stopped_redis_spools_and_the_spool_merges_when_it_is_back(own_redis, tmp_path):
    with start(tmp_path, tmp_path / "var", WECHAT_REDIS_URL=own_redis.url) as server:
        own_redis.process.terminate()
        own_redis.process.wait(10)
        during = [timed_post(server, "down %d" % i) for i in range(3)]
        own_redis.process = subprocess.Popen(
            ["redis-server", "--port", str(own_redis.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", own_redis.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from tests.support import wait_for_port

        wait_for_port(own_redis.port, process=own_redis.process)
        time.sleep(1.1)
        after, _ = timed_post(server, "back")
        summaries = exported_summaries(server)
        manage(server, "journal", "merge")  # merging again adds nothing
        again = exported_summaries(server)
    for i, (response, seconds) in enumerate(during):
        assert_answered(response, "down %d" % i) and seconds < BUDGET
    assert_answered(after, "back")
    assert sorted(summaries) == sorted(again) == sorted(["down 0", "down 1", "down 2", "back"])


LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock, as a long admin transaction would hold it
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_a_sqlite_write_locked_by_another_process_still_answers_inside_the_budget(tmp_path):
    data_dir = tmp_path / "var"
    with start(tmp_path, data_dir) as server:
        before, _ = timed_post(server, "before the lock")
        holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(data_dir / "wechat.sqlite3"), "4"],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        during = [timed_post(server, "locked %d" % i) for i in range(3)]
        holder.wait(30)
        waiting = manage(server, "journal", "status")  # batched: nothing merged yet
        summaries = exported_summaries(server)  # export merges first
        merged = manage(server, "journal", "status")
    assert waiting.startswith("4 records in 1 journal files") and merged.startswith("0 records"), (waiting, merged)
    assert_answered(before, "before the lock")
    for i, (response, seconds) in enumerate(during):
        assert_answered(response, "locked %d" % i)
        assert seconds < 1.5, seconds  # a claim waits at most 0.5 s for the lock
    assert sorted(summaries) == sorted(["before the lock", "locked 0", "locked 1", "locked 2"])


def recover_from(server, tmp_path, stderr_text):
    """What the admin does after fixing the disk: merge the journal and the records in the error log."""
    error_log = tmp_path / "error.log"
    error_log.write_text(stderr_text, encoding="utf-8")
    manage(server, "journal", "merge", "--from-log", str(error_log))
    manage(server, "journal", "merge", "--from-log", str(error_log))  # twice: still nothing twice
    return exported_summaries(server)


def test_a_read_only_data_dir_answers_and_recovery_brings_back_every_message(small_disk, tmp_path):
    with start(tmp_path, small_disk) as server:
        before, _ = timed_post(server, "writable")
    subprocess.run(["mount", "-o", "remount,ro", small_disk], check=True)
    server = start(tmp_path, small_disk)
    with server:
        during = [timed_post(server, "read-only %d 中文" % i) for i in range(3)]
    subprocess.run(["mount", "-o", "remount,rw", small_disk], check=True)
    assert "wechat-journal-record:" in server.stderr
    summaries = recover_from(server, tmp_path, server.stderr)
    assert_answered(before, "writable")
    for i, (response, seconds) in enumerate(during):
        assert_answered(response, "read-only %d 中文" % i) and seconds < BUDGET
    assert sorted(summaries) == sorted(["writable"] + ["read-only %d 中文" % i for i in range(3)])


def test_a_full_data_dir_answers_and_recovery_brings_back_every_message(small_disk, tmp_path):
    filler = os.path.join(small_disk, "filler")
    server = start(tmp_path, small_disk)
    with server:
        before, _ = timed_post(server, "room left")
        fill_disk(filler)
        texts = ["full %d %s" % (i, "长" * 300) for i in range(8)]
        during = [timed_post(server, text) for text in texts]
    os.unlink(filler)
    assert "wechat-journal-record:" in server.stderr  # the last resort was needed
    summaries = recover_from(server, tmp_path, server.stderr)
    assert_answered(before, "room left")
    for text, (response, seconds) in zip(texts, during):
        assert_answered(response, text) and seconds < BUDGET
    assert sorted(summaries) == sorted(["room left"] + texts)
