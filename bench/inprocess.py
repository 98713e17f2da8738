"""In-process cost of one signed text message through the WSGI app, plain and safe mode, beside WeRoBot.

    python bench/inprocess.py [--messages 2000] [--repeats 7]

Each variant answers the same job: verify the signature, parse, reply with the text reversed; ours
also claims the message and journals it (`journal = on`, the default), or not (`journal = off`).
Variants are interleaved in every repeat (these machines drift); the figure is the median of the
repeats in microseconds per message, and the ratios are taken within this one run. WeRoBot
(pip install werobot) is optional; without it only our own plain/safe ratio is printed. A "stack
floor" (web.py's URL map, minidom's parse and a web.py template, nothing else) is measured beside
them: what any server on the design card's stack pays before doing anything of its own.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOKEN, APPID = "benchtoken", "wx2c2769f8efd9abc2"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def environ_for(query, body):
    from urllib.parse import urlencode

    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "SCRIPT_NAME": "", "QUERY_STRING": urlencode(query),
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "text/xml", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False}


_nonces = iter(range(10**9))


def requests_for(count, crypto=None):
    """Pre-built (query, body) pairs, distinct MsgIds and nonces, so only the server's work is timed."""
    from admin import simulator

    out = []
    timestamp = str(int(time.time()))  # inside the server's replay window for the run's few minutes
    for i in range(count):
        body = simulator.text("你好 bench %d" % i)
        nonce = str(next(_nonces))
        query = simulator.signed_query(TOKEN, timestamp, nonce)
        if crypto:
            body, extra = simulator.encrypt_request(body, crypto, timestamp, nonce)
            query.update(extra)
        out.append((query, body))
    return out


def time_app(app, requests):
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    environs = [environ_for(query, body) for query, body in requests]  # built outside the timing
    started = time.perf_counter()
    for environ in environs:
        b"".join(app(environ, start_response))
    elapsed = time.perf_counter() - started
    assert all(s.startswith("200") for s in statuses), statuses[:3]
    return elapsed / len(requests) * 1e6


def our_app(mode, home, journal=True):
    name = mode + ("" if journal else "-nojournal")
    config = os.path.join(home, "config-%s.ini" % name)
    with open(config, "w") as f:
        f.write("[wechat]\ntoken = %s\nappid = %s\naes_key = %s\nencrypt_mode = %s\n[server]\ndata_dir = %s\n"
                "log_file = %s\njournal = %s\n" % (TOKEN, APPID, AES_KEY, mode, os.path.join(home, "var-" + name),
                                                   os.path.join(home, "requests.log"), "on" if journal else "off"))
    os.environ["WECHAT_CONFIG"] = config
    from tests.support import load_server

    app = load_server().application

    def with_config(environ, start_response):
        os.environ["WECHAT_CONFIG"] = config  # two configs in one process: select this one
        return app(environ, start_response)

    return with_config


STACK_FLOOR_TEMPLATE = """$def with (to_user, from_user, create_time, content)
<xml><ToUserName><![CDATA[$to_user]]></ToUserName><FromUserName><![CDATA[$from_user]]></FromUserName><CreateTime>$create_time</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[$content]]></Content></xml>
"""


def stack_floor_app(home):
    """What the design card's stack costs by itself: web.py's URL map to a class, minidom's parse, a web.py
    template for the reply; no signature, no settings, no skills, no log. Nothing built on this stack
    can be cheaper, so it shows how much of a ratio is the stack and how much is ours."""
    import web
    from xml.dom import minidom

    folder = os.path.join(home, "floor-templates")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "reply.xml"), "w") as f:
        f.write(STACK_FLOOR_TEMPLATE)
    render = web.template.render(folder, cache=True)

    class Floor:
        def POST(self):
            root = minidom.parseString(web.data()).documentElement
            fields = {node.tagName: node.firstChild.data for node in root.childNodes if node.firstChild is not None}
            web.header("Content-Type", "application/xml")
            return render.reply(fields["FromUserName"], fields["ToUserName"], int(time.time()), fields["Content"][::-1])

    return web.application(("/", "Floor"), {"Floor": Floor}, autoreload=False).wsgifunc()


def werobot_app(safe):
    try:
        import werobot
    except ImportError:
        return None
    import logging

    logging.getLogger("WeRoBot").setLevel(logging.ERROR)
    kwargs = dict(token=TOKEN, SESSION_STORAGE=False)
    if safe:
        kwargs.update(app_id=APPID, encoding_aes_key=AES_KEY)
    robot = werobot.WeRoBot(**kwargs)

    @robot.text
    def reverse(message):
        return message.content[::-1]

    return robot.wsgi


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    from wechat.crypto import MessageCrypto

    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    home = tempfile.mkdtemp(prefix="wechat-bench-")
    variants = {"ours plain": (our_app("plain", home), None), "ours safe": (our_app("safe", home), crypto),
                "ours no-journal": (our_app("plain", home, journal=False), None),
                "stack floor": (stack_floor_app(home), None)}
    for name, safe in (("werobot plain", False), ("werobot safe", True)):
        app = werobot_app(safe)
        if app:
            variants[name] = (app, crypto if safe else None)
    results = {name: [] for name in variants}
    for app, c in variants.values():  # warm-up: imports, templates, database file
        time_app(app, requests_for(50, c))
    for _ in range(args.repeats):
        for name, (app, c) in variants.items():
            results[name].append(time_app(app, requests_for(args.messages, c)))
    medians = {name: statistics.median(values) for name, values in results.items()}
    print("median us/message over %d repeats of %d messages" % (args.repeats, args.messages))
    for name, value in medians.items():
        print("  %-15s %8.1f us" % (name, value))
    def verdict(ratio, target, at_most=True):
        return "meets" if (ratio <= target if at_most else ratio >= target) else "MISSES"

    ratio = medians["ours safe"] / medians["ours plain"]
    print("safe/plain (ours):              %.2fx  (target <= 1.4x: %s)" % (ratio, verdict(ratio, 1.4)))
    print("stack floor     / werobot plain: %.2fx  (web.py + minidom + a template alone; no target)"
          % (medians["stack floor"] / medians["werobot plain"]) if "werobot plain" in medians else "")
    print("ours no-journal / stack floor:   %.2fx  (what we add to the stack)"
          % (medians["ours no-journal"] / medians["stack floor"]))
    if "werobot plain" in medians:
        for name, target in (("ours plain", 1.2), ("ours no-journal", 1.0)):
            ratio = medians[name] / medians["werobot plain"]
            print("%-15s / werobot plain: %.2fx  (target <= %.1fx: %s)" % (name, ratio, target, verdict(ratio, target)))
    if "werobot safe" in medians:
        ratio = medians["ours safe"] / medians["werobot safe"]
        print("ours safe       / werobot safe:  %.2fx" % ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
