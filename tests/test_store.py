"""The store's contract, the same on SQLite and Redis: expiry, atomic add across processes, the message log."""

import subprocess
import sys
import time

import pytest

from tests.support import ROOT
from wechat.config import Settings
from wechat.store import HELD, NEW, REPLAYED, StoreError, open_store


def settings_for(store_env, **extra):
    return Settings(data_dir=store_env["WECHAT_DATA_DIR"], redis_url=store_env.get("WECHAT_REDIS_URL", ""), **extra)


@pytest.fixture
def store(store_env):
    return open_store(settings_for(store_env))


def test_get_set_delete_and_expiry(store):
    assert store.get("k") is None
    store.set("k", "值 value", 60)
    assert store.get("k") == "值 value"
    store.set("short", "x", 0.2)
    time.sleep(0.3)
    assert store.get("short") is None
    store.delete("k")
    assert store.get("k") is None


def test_add_only_when_absent_or_expired(store):
    assert store.add("lock", "me", 0.3) is True
    assert store.add("lock", "you", 10) is False
    assert store.get("lock") == "me"
    time.sleep(0.4)
    assert store.add("lock", "you", 10) is True and store.get("lock") == "you"


def test_delete_with_expected_value_spares_another_owner(store):
    store.set("lock", "owner-a", 60)
    store.delete("lock", expected="owner-b")
    assert store.get("lock") == "owner-a"
    store.delete("lock", expected="owner-a")
    assert store.get("lock") is None


def test_the_log_merges_idempotently_keeps_order_and_filters_by_time(store):
    now = time.time()
    first = {"received_at": now - 100, "key": "m1", "digest": "d1", "msg_type": "text", "source": "o1",
             "summary": "你好", "raw": "<xml><Content>你好</Content></xml>", "reply": "好你", "outcome": "reply:text"}
    second = {"received_at": now - 10, "key": "m2", "msg_type": "image", "source": "o2", "summary": "media"}
    assert store.log_merge([first, second]) == 2
    assert store.log_merge([dict(first, summary="again"), second]) == 0  # the first record of a key stands
    assert store.log_find("m1")["reply"] == "好你" and store.log_find("m1")["digest"] == "d1"
    assert store.log_find("nope") is None
    records = list(store.log_iter())
    assert [r["key"] for r in records] == ["m1", "m2"]
    assert records[0]["summary"] == "你好" and records[0]["raw"] == "<xml><Content>你好</Content></xml>"
    assert [r["key"] for r in store.log_iter(since=now - 50)] == ["m2"]
    assert [r["key"] for r in store.log_iter(until=now - 50)] == ["m1"]
    # a reader that needs a few fields (the dashboard) gets those, without raw and reply
    slim = list(store.log_iter(fields=("received_at", "source", "outcome", "latency_ms", "no such; DROP")))
    assert slim == [{"received_at": now - 100, "source": "o1", "outcome": "reply:text", "latency_ms": None},
                    {"received_at": now - 10, "source": "o2", "outcome": None, "latency_ms": None}]
    assert [r["outcome"] for r in store.log_iter(fields=("outcome",))] == ["reply:text", None]  # empty is not gone
    with pytest.raises(ValueError):
        list(store.log_iter(fields=("no such",)))
    store.log_prune(now - 50)
    assert [r["key"] for r in store.log_iter()] == ["m2"]


def test_a_claim_is_one_write_that_also_remembers_the_nonce(store):
    lease = time.time() + 5
    assert store.claim("k1", "body-a", "1700000000:42", lease, 600).state == NEW
    held = store.claim("k1", "body-a", "1700000000:42", lease, 600)  # a retry
    assert (held.state, held.digest, held.lease_until) == (HELD, "body-a", lease)
    assert store.claim("k2", "body-b", "1700000000:42", lease, 600).state == REPLAYED  # same query, new body
    assert store.claim("k2", "body-b", "1700000000:43", lease, 600).state == NEW
    assert store.claim("k1", "body-c", None, lease, 600).digest != "body-c"  # same key, another body: told


def test_only_one_retry_takes_over_an_expired_claim(store):
    expired = time.time() - 1
    store.claim("k", "d", None, expired, 600)
    assert store.claim_takeover("k", expired, time.time() + 5) is True
    assert store.claim_takeover("k", expired, time.time() + 5) is False  # someone was first


def test_add_is_atomic_across_processes(store_env):
    """20 processes race for one key: exactly one wins."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from wechat.config import Settings\nfrom wechat.store import open_store\n"
            "import time; time.sleep(max(0, float(sys.argv[1]) - time.time()))\n"
            "s = open_store(Settings(data_dir=%r, redis_url=%r))\n"
            "print(s.add('race', sys.argv[2], 60))") % (ROOT, store_env["WECHAT_DATA_DIR"], store_env.get("WECHAT_REDIS_URL", ""))
    start = str(time.time() + 1.5)
    processes = [subprocess.Popen([sys.executable, "-c", code, start, str(i)], stdout=subprocess.PIPE, text=True)
                 for i in range(20)]
    results = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert sorted(results) == ["False"] * 19 + ["True"]


def test_claims_hold_across_processes(store_env):
    """20 processes claim one message at once, each with its own nonce: exactly one runs it."""
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from wechat.config import Settings\nfrom wechat.store import open_store\n"
            "s = open_store(Settings(data_dir=%r, redis_url=%r))\n"
            "time.sleep(max(0, float(sys.argv[1]) - time.time()))\n"
            "print(s.claim('msg:o:1', 'd', '17:' + sys.argv[2], time.time() + 5, 600).state)"
            ) % (ROOT, store_env["WECHAT_DATA_DIR"], store_env.get("WECHAT_REDIS_URL", ""))
    start = str(time.time() + 1.5)
    processes = [subprocess.Popen([sys.executable, "-c", code, start, str(i)], stdout=subprocess.PIPE, text=True)
                 for i in range(20)]
    results = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert sorted(results) == [HELD] * 19 + [NEW]


def test_sqlite_uses_wal_in_the_data_dir(tmp_path):
    store = open_store(Settings(data_dir=str(tmp_path / "var")))
    store.set("k", "v", 10)
    assert (tmp_path / "var" / "wechat.sqlite3").exists()
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unwritable_data_dir_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        open_store(Settings(data_dir=str(blocker / "var"))).set("k", "v", 10)


def test_a_redis_that_is_down_is_a_store_error():
    pytest.importorskip("redis")
    store = open_store(Settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(StoreError):
        store.get("k")


OLD_SCHEMA = """
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY, received_at REAL NOT NULL, key TEXT NOT NULL UNIQUE,
    msg_type TEXT, source TEXT, target TEXT, summary TEXT, raw TEXT, reply TEXT, outcome TEXT);
CREATE INDEX messages_received_at ON messages (received_at);
INSERT INTO messages (received_at, key, msg_type, source, summary, reply, outcome)
    VALUES (CAST(strftime('%s', 'now') AS REAL) - 3600, 'msg:123', 'text', 'oOld', '旧消息', '<xml>old</xml>', 'reply:text');
"""


def test_a_log_written_before_the_journal_is_migrated_in_place(tmp_path):
    import sqlite3

    (tmp_path / "var").mkdir()
    old = sqlite3.connect(str(tmp_path / "var" / "wechat.sqlite3"))
    old.executescript(OLD_SCHEMA)
    old.close()
    store = open_store(Settings(data_dir=str(tmp_path / "var")))
    for _ in range(30):  # merges sometimes prune expired entries too: the old message is not expired
        store.log_merge([{"received_at": time.time(), "key": "msg:oNew:456", "digest": "d", "summary": "新"}])
    records = list(store.log_iter())
    assert [(r["key"], r["summary"]) for r in records] == [("msg:123", "旧消息"), ("msg:oNew:456", "新")]
    assert records[0]["reply"] == "<xml>old</xml>" and records[0]["digest"] is None
    result = subprocess.run([sys.executable, "manage.py", "export", "--format", "csv"], cwd=ROOT, capture_output=True,
                            text=True, env=dict(__import__("os").environ, WECHAT_DATA_DIR=str(tmp_path / "var")))
    assert result.returncode == 0 and "旧消息" in result.stdout and "新" in result.stdout, result.stderr


def _statements(store):
    """The SQL statements this SQLite store runs from now on."""
    seen = []
    store.db.set_trace_callback(seen.append)
    return seen


def test_a_follower_with_nothing_stored_costs_no_sqlite_statement(tmp_path):
    store = open_store(Settings(data_dir=str(tmp_path)))
    store.set("owed:oOther", "x", 60, follower="oOther")
    statements = _statements(store)
    assert store.snapshot(("owed:oQuiet", "owed-reply:oQuiet"), "oQuiet") == ({}, (None, ""))
    assert statements == []
    values, session = store.snapshot(("owed:oOther", "owed-reply:oOther"), "oOther")
    assert values == {"owed:oOther": "x"} and len(statements) == 1


def test_state_another_process_writes_is_seen_by_the_next_message(tmp_path):
    store = open_store(Settings(data_dir=str(tmp_path)))
    assert store.snapshot(("owed:oF",), "oF") == ({}, (None, ""))  # this process has mapped the marks
    writer = ("from wechat.config import Settings; from wechat.store import open_store; "
              "s = open_store(Settings(data_dir=%r)); s.set('owed:oF', 'part', 60, follower='oF'); "
              "s.session_put('oF', '{}', '', 'v1', 60)" % str(tmp_path))
    subprocess.run([sys.executable, "-c", writer], cwd=ROOT, check=True)
    assert store.snapshot(("owed:oF",), "oF") == ({"owed:oF": "part"}, ("{}", "v1"))


def test_state_written_before_the_marks_existed_is_not_hidden(tmp_path):
    import os

    store = open_store(Settings(data_dir=str(tmp_path)))
    store.set("owed:oOld", "part", 60, follower="oOld")
    store.session_put("oSession", "{}", "", "v1", 60)
    store.set("owed:oExpired", "part", 0.1, follower="oExpired")
    time.sleep(0.2)
    marks = os.path.join(str(tmp_path), "followers.map")
    for damage in ("delete", "truncate"):  # an upgrade from before the marks, or a damaged file
        if damage == "delete":
            os.unlink(marks)
        else:
            with open(marks, "r+b") as f:
                f.truncate(100)
        fresh = open_store(Settings(data_dir=str(tmp_path)))
        assert fresh.snapshot(("owed:oOld",), "oOld")[0] == {"owed:oOld": "part"}
        assert fresh.snapshot((), "oSession")[1] == ("{}", "v1")
        statements = _statements(fresh)
        assert fresh.snapshot(("owed:oExpired",), "oExpired") == ({}, (None, "")) and statements == []
