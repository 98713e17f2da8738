"""The journal's files: a process's own file is merged by others only once it is gone (or, for a reader, left
in place), and nothing is merged twice."""

import os
import signal
import subprocess
import sys
import time

from tests.support import ROOT
from wechat.journal import JournalFile, encode_record
from wechat.store import LOG_FIELDS
from wechat.store.sqlite_store import SQLiteStore

WRITER = """
import sys, time
sys.path.insert(0, %r)
from wechat.journal import JournalFile, encode_record
from wechat.store import LOG_FIELDS
journal = JournalFile(sys.argv[1], own=sys.argv[2] == "own")
for i in range(int(sys.argv[3])):
    record = dict.fromkeys(LOG_FIELDS)
    record.update(received_at=time.time(), key="msg:oWriter:%%d" %% i, summary="from the writer %%d" %% i,
                  msg_type="text", reply="<xml/>")
    journal.append(encode_record(record))
print("written", flush=True)
time.sleep(60)  # alive, as a FastCGI process between requests
""" % str(ROOT)


def start_writer(data_dir, count, mode="own"):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), mode, str(count)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "written"
    return writer


def summaries(store):
    return sorted(record["summary"] for record in store.log_iter())


def journal_files(data_dir):
    return sorted(name for name in os.listdir(data_dir) if name.startswith("journal.") and name.endswith(".log"))


def test_a_live_process_file_is_merged_for_readers_kept_for_its_owner_and_deleted_once_it_is_gone(tmp_path):
    store = SQLiteStore(str(tmp_path / "wechat.sqlite3"))
    writer = start_writer(tmp_path, 3)
    try:
        assert len(journal_files(tmp_path)) == 1  # a file of its own, not the shared journal.log
        assert JournalFile(str(tmp_path)).merge(store, live=False) == 0  # a due merge leaves a live file alone
        assert summaries(store) == []
        assert JournalFile(str(tmp_path)).merge(store) == 3  # a reader (export, console) needs every record now
        assert len(journal_files(tmp_path)) == 1  # ... and the owner still writes there
        assert JournalFile(str(tmp_path)).merge(store) == 0  # merging again adds nothing
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert JournalFile(str(tmp_path)).merge(store, live=False) == 0  # its records were in the log already
    assert journal_files(tmp_path) == []  # nobody holds the file now: merged and deleted
    assert summaries(store) == ["from the writer %d" % i for i in range(3)]


def test_a_killed_process_records_reach_the_log_at_the_next_due_merge(tmp_path):
    store = SQLiteStore(str(tmp_path / "wechat.sqlite3"))
    writer = start_writer(tmp_path, 2)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    survivor = JournalFile(str(tmp_path))
    record = dict.fromkeys(LOG_FIELDS)
    record.update(received_at=time.time(), key="msg:oSurvivor:1", summary="from the survivor", msg_type="text")
    survivor.append(encode_record(record))
    assert survivor.merge(store, live=False) == 3  # its own file, retired, and the dead process's
    assert journal_files(tmp_path) == []
    assert summaries(store) == ["from the survivor", "from the writer 0", "from the writer 1"]
    assert survivor.find("msg:oSurvivor:1") is None and store.log_find("msg:oSurvivor:1")["summary"] == "from the survivor"


def test_one_request_processes_share_one_file(tmp_path):
    store = SQLiteStore(str(tmp_path / "wechat.sqlite3"))
    for _ in range(2):
        writer = start_writer(tmp_path, 1, mode="shared")
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert journal_files(tmp_path) == ["journal.log"]
    assert JournalFile(str(tmp_path)).find("msg:oWriter:0")["summary"] == "from the writer 0"
    assert JournalFile(str(tmp_path)).merge(store, live=False) == 1  # one key, written by both
    assert journal_files(tmp_path) == []


class Settings:
    """What current_journal reads of the settings."""

    journal = True
    max_request_age_seconds = 600
    redis_url = ""

    def __init__(self, data_dir, budget):
        self.data_dir, self.reply_budget_seconds = data_dir, budget


def record_for(key, summary):
    record = dict.fromkeys(LOG_FIELDS)
    record.update(received_at=time.time(), key=key, summary=summary, msg_type="text")  # not pruned as old
    return encode_record(record)


def test_a_journal_replaced_by_a_config_change_lets_go_of_its_file(tmp_path):
    from handlers.runtime import current_journal

    store = SQLiteStore(str(tmp_path / "wechat.sqlite3"))
    before = current_journal(Settings(str(tmp_path), 4.5))
    before.file.append(record_for("msg:o:1", "before the edit"))
    after = current_journal(Settings(str(tmp_path), 3.0))  # the admin changed reply_budget_seconds
    assert after is not before
    assert JournalFile(str(tmp_path)).merge(store, live=False) == 1  # nobody holds the old file now
    assert journal_files(tmp_path) == []
    before.file.append(record_for("msg:o:2", "in flight during the edit"))  # a request still using it
    assert JournalFile(str(tmp_path)).merge(store, live=False) == 1  # ... wrote to the shared file
    assert summaries(store) == ["before the edit", "in flight during the edit"]


def test_with_redis_the_journal_is_a_shared_spool_never_held(tmp_path):
    from handlers.runtime import current_journal

    settings = Settings(str(tmp_path), 4.5)
    settings.redis_url = "redis://127.0.0.1:1/0"
    assert not current_journal(settings).file.own
    assert current_journal(Settings(str(tmp_path), 4.5)).file.own


def test_an_own_file_deleted_by_hand_is_replaced_at_the_next_append(tmp_path):
    journal = JournalFile(str(tmp_path))
    journal.append(record_for("msg:o:1", "first"))
    [name] = journal_files(tmp_path)
    os.unlink(os.path.join(tmp_path, name))
    journal.append(record_for("msg:o:2", "second"))
    assert len(journal_files(tmp_path)) == 1 and journal_files(tmp_path) != [name]
    assert JournalFile(str(tmp_path)).find("msg:o:2")["summary"] == "second"
