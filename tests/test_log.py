"""The 'wechat' log lines, in a fresh process as under CGI: logging is loaded only when more than the request line is logged."""

import os
import re
import subprocess
import sys

from tests.support import ROOT

LINE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} wechat %s %s\n"


def fresh_process(code, env=None):
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r)\n%s" % (ROOT, code)],
                            capture_output=True, text=True, timeout=30, env=dict(os.environ, **(env or {})))
    assert result.returncode == 0, result.stderr
    return result


def test_request_lines_reach_the_log_file_without_logging_and_later_lines_keep_the_order(tmp_path):
    path = tmp_path / "wechat.log"
    result = fresh_process(
        "from wechat.log import log, send_to, write_line\n"
        "send_to(%r)\n"
        "write_line('POST type=text first')\n"
        "print('logging loaded:', 'logging' in sys.modules)\n"
        "log.error('store unavailable: %%s', 'disk full')\n"
        "write_line('POST type=text second')\n" % str(path))
    assert "logging loaded: False" in result.stdout
    assert re.fullmatch(LINE % ("INFO", "POST type=text first") + LINE % ("ERROR", "store unavailable: disk full")
                        + LINE % ("INFO", "POST type=text second"), path.read_text()), path.read_text()
    assert result.stderr == ""


def test_without_a_log_file_lines_go_to_stderr_never_stdout():
    result = fresh_process(
        "from wechat.log import log, send_to, write_line\n"
        "send_to('')\n"
        "write_line('GET verify')\n"
        "log.warning('a skill was slow')\n")
    assert result.stdout == ""
    assert re.fullmatch(LINE % ("INFO", "GET verify") + LINE % ("WARNING", "a skill was slow"), result.stderr)


def test_a_log_file_that_cannot_be_written_costs_nothing_but_a_note_on_stderr(tmp_path):
    path = tmp_path / "missing-folder" / "wechat.log"
    result = fresh_process(
        "from wechat.log import log, send_to, write_line\n"
        "send_to(%r)\n"
        "write_line('POST type=text one')\n"
        "log.error('and an error')\n" % str(path))
    assert "cannot write the log file %s" % path in result.stderr
    assert "POST type=text one" in result.stderr and "wechat ERROR and an error" in result.stderr


def test_a_plain_text_message_writes_its_line_and_other_handlers_still_get_every_line(wechat_log, config_file):
    from tests.support import call
    from admin import simulator

    assert call("POST", simulator.signed_query("testtoken"), simulator.text("hi")).status == "200 OK"
    assert any("POST type=text outcome=reply:text status=200" in r.getMessage() for r in wechat_log.records)
