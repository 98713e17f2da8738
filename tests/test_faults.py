"""Faults: a read-only or full data dir still gets every follower an answer, and the error log says why."""

import os
import subprocess

from tests.support import TOKEN, DevServer, fill_disk
from admin import simulator
from wechat.xmlparse import parse_xml


def server_on(data_dir, tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[wechat]\ntoken = %s\n[server]\ndata_dir = %s\n" % (TOKEN, data_dir))
    return DevServer({"WECHAT_CONFIG": str(config)})


def test_a_read_only_data_dir_still_answers_and_says_why(small_disk, tmp_path):
    with server_on(small_disk, tmp_path) as server:  # creates the database, with messages in it
        first = simulator.post_message(server.url, TOKEN, simulator.text("写得进去"))
    subprocess.run(["mount", "-o", "remount,ro", small_disk], check=True)
    server = server_on(small_disk, tmp_path)
    with server:
        second = simulator.post_message(server.url, TOKEN, simulator.text("只读了"))
        third = simulator.post_message(server.url, TOKEN, simulator.subscribe())
    assert parse_xml(first.body)["Content"] == "去进得写"
    assert second.status == 200 and parse_xml(second.body)["Content"] == "了读只"
    assert third.status == 200 and "帮助" in parse_xml(third.body)["Content"]
    assert "store unavailable" in server.stderr
    assert "readonly" in server.stderr.lower() or "read-only" in server.stderr.lower() or "unable to open" in server.stderr


def test_a_full_data_dir_still_answers_and_says_why(small_disk, tmp_path):
    server = server_on(small_disk, tmp_path)
    with server:
        simulator.post_message(server.url, TOKEN, simulator.text("先建库"))
        fill_disk(os.path.join(small_disk, "filler"))
        replies = [simulator.post_message(server.url, TOKEN, simulator.text("满了 %d " % i + "长" * 300))
                   for i in range(10)]
    assert all(r.status == 200 for r in replies)
    assert parse_xml(replies[-1].body)["Content"].startswith("长")
    assert "store unavailable" in server.stderr and "full" in server.stderr.lower()


def test_an_unusable_data_dir_at_start_still_answers(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    server = server_on(blocker / "var", tmp_path)
    with server:
        response = simulator.post_message(server.url, TOKEN, simulator.text("没有库"))
    assert parse_xml(response.body)["Content"] == "库有没"
    assert "store unavailable" in server.stderr and "unusable" in server.stderr
