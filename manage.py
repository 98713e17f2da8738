#!/usr/bin/env python3
"""The admin's command line: deploy, doctor, simulate, token, menu, send, export, journal, jokes. `python manage.py -h`."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def cmd_deploy(args):
    from admin import deploy

    python = args.python or sys.executable
    try:
        text = deploy.render_vhost(args.mode, args.flavour, args.root, python, args.server_name, args.port,
                                   args.backend_port)
    except deploy.DeployError as e:
        print("manage.py deploy: %s" % e, file=sys.stderr)
        return 2
    if args.mode == "cgi" and not args.dry_run:
        deploy.fix_script(python, os.path.join(args.root, "code.py"))
        print("# code.py's first line is now %s" % deploy.shebang(python), file=sys.stderr)
    if args.mode in ("cgi", "fcgid") and deploy.compile_app(python, args.root):
        print("# byte-compiled wechat/ and handlers/ with %s" % python, file=sys.stderr)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print("# wrote %s" % args.output, file=sys.stderr)
    else:
        sys.stdout.write(text)
    report(deploy.run_checks(args.mode, python, args.apache_user, args.root) if args.flavour == "debian" else
           deploy.check_config() + deploy.check_templates(args.root))
    return 0


def cmd_doctor(args):
    from admin import deploy

    problems = deploy.run_checks(args.mode, args.python or sys.executable, args.apache_user)
    report(problems)
    return 1 if problems else 0


def report(problems):
    """Checks go to stderr, so a vhost on stdout stays clean."""
    for problem in problems:
        print("problem: %s" % problem, file=sys.stderr)
    print("checks: %s" % ("%d problem(s)" % len(problems) if problems else "all passed"), file=sys.stderr)


def cmd_simulate(args):
    from admin import simulator
    from wechat.config import ConfigError, load_settings
    from admin.simulate import Run

    try:
        settings = load_settings()
    except ConfigError as e:
        settings = None
        if not args.token:
            print("manage.py simulate: %s" % e, file=sys.stderr)
            return 2
    token = args.token or settings.token
    if not token:
        print("manage.py simulate: no token: pass --token or set it in config.ini / WECHAT_TOKEN", file=sys.stderr)
        return 2
    crypto = None
    if args.encrypt or args.compat:
        from wechat.crypto import MessageCrypto

        aes_key = args.aes_key or (settings.aes_key if settings else "")
        appid = args.appid or (settings.appid if settings else "")
        try:
            crypto = MessageCrypto(token, aes_key, appid)
        except ValueError as e:
            print("manage.py simulate: %s" % e, file=sys.stderr)
            return 2
    run = Run(args.url, token, crypto, args.compat)
    if not args.no_verify:
        run.verify()
        run.forged()
    messages = args.message or [["text", "你好，微信"], ["subscribe"]]
    for item in messages:
        kind, argument = item[0], (item[1] if len(item) > 1 else None)
        if kind not in simulator.KINDS:
            print("manage.py simulate: unknown kind %r; one of %s" % (kind, ", ".join(simulator.KINDS)), file=sys.stderr)
            return 2
        run.send(kind, argument)
    return 1 if run.failures else 0


def api_client():
    from handlers.runtime import current_settings, current_store
    from wechat.client import WeChatClient

    settings = current_settings()
    store = current_store(settings)
    if store is None:
        raise SystemExit("manage.py: the store cannot be opened; see the message above")
    return WeChatClient(settings, store)


def api_command(work):
    """Run an API call; a WeChat error exits 1 with its errcode and errmsg."""
    from wechat.client import WeChatAPIError
    from wechat.config import ConfigError

    try:
        return work(api_client())
    except (WeChatAPIError, ConfigError) as e:
        print("manage.py: %s" % e, file=sys.stderr)
        return 1


def cmd_token(args):
    def work(client):
        print(client.tokens.refresh(stale=client.access_token()) if args.refresh else client.access_token())
        return 0

    return api_command(work)


def cmd_menu(args):
    import json

    def work(client):
        if args.action == "push":
            with open(args.file, encoding="utf-8") as f:
                menu = json.load(f)
            client.menu_create(menu)
            print("menu pushed: %d top-level buttons" % len(menu.get("button", [])))
        elif args.action == "show":
            print(json.dumps(client.menu_get(), ensure_ascii=False, indent=2))
        else:
            client.menu_delete()
            print("menu deleted")
        return 0

    if args.action == "push" and not args.file:
        print("manage.py menu push: name the menu file (see menu.json)", file=sys.stderr)
        return 2
    return api_command(work)


def cmd_send(args):
    def work(client):
        client.send_text(args.openid, args.text)
        print("sent")
        return 0

    return api_command(work)


def cmd_export(args):
    from handlers.runtime import current_settings, current_store
    from admin.export import parse_when, write_log

    settings = current_settings()
    store = current_store(settings)
    if store is None:
        return 1
    merge_journal(settings, store)  # what is still in the journal belongs in the export too
    try:
        since, until = parse_when(args.since), parse_when(args.until)
    except ValueError as e:
        print("manage.py export: %s" % e, file=sys.stderr)
        return 2
    records = store.log_iter(since, until)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            count = write_log(records, args.format, f)
    else:
        count = write_log(records, args.format, sys.stdout)
    print("exported %d messages" % count, file=sys.stderr)
    return 0


def merge_journal(settings, store, log_files=()):
    """Merge the journal (and records found in error logs) into the store's log; returns how many were new."""
    from wechat.journal import Journal, records_in_log

    journal = Journal(settings.data_dir, settings.reply_budget_seconds)
    added = journal.file.merge(store) if journal.file.pending() else 0
    for path in log_files:
        with open(path, encoding="utf-8", errors="replace") as f:
            records = records_in_log(f)
        added += store.log_merge(records)
        print("%s: %d records found" % (path, len(records)), file=sys.stderr)
    return added


def cmd_journal(args):
    from handlers.runtime import current_settings, current_store
    from wechat.store import StoreError

    settings = current_settings()
    store = current_store(settings)
    if store is None:
        return 1
    if args.action == "status":
        from wechat.journal import JournalFile, read_records

        pending = JournalFile(settings.data_dir).pending()
        count = 0
        for path in pending:
            with open(path, "rb") as f:
                count += len(read_records(f.read()))
        print("%d records in %d journal files waiting to be merged into the log" % (count, len(pending)))
        return 0
    try:
        added = merge_journal(settings, store, args.from_log or ())
    except (StoreError, OSError) as e:
        print("manage.py journal merge: %s" % e, file=sys.stderr)
        return 1
    print("merged %d new messages into the log" % added, file=sys.stderr)
    return 0


def cmd_jokes(args):
    import re

    from handlers.runtime import current_settings, current_store
    from handlers.skills.backends import jokes

    settings = current_settings()
    store, jokes_file = current_store(settings), settings.jokes_file
    if store is None:
        return 1
    if args.action == "count":
        print("%d in %s, %d fetched into the store" % (len(jokes.load_file(jokes_file)), jokes_file, len(jokes.fetched(store))))
        return 0
    from wechat.http import Unreachable, fetch

    try:
        response = fetch(args.url, timeout=15)
    except Unreachable as e:
        print("manage.py jokes fetch: %s" % e, file=sys.stderr)
        return 1
    if not response.ok:
        print("manage.py jokes fetch: %s answered HTTP %d" % (args.url, response.status), file=sys.stderr)
        return 1
    page = response.body.decode(response.charset(), "replace")
    try:
        from handlers.skills.backends.joke_pages import extract

        found = extract(page, args.selector, args.regex)
    except (ValueError, re.error) as e:
        print("manage.py jokes fetch: %s" % e, file=sys.stderr)
        return 2
    added = jokes.add_to_store(store, found, known=jokes.load_file(jokes_file))
    print("found %d jokes, %d new, %d already known" % (len(found), added, len(found) - added))
    return 0


def cmd_precompile(args):
    """Byte-code and compiled templates, made by the interpreter that will run them (deploy calls this)."""
    import compileall

    import web

    from admin.deploy import APP_PACKAGES
    from handlers.render import precompile_templates
    from wechat.config import ROOT

    web.config.debug = False
    folders = [os.path.join(ROOT, name) for name in APP_PACKAGES]
    compiled = all(compileall.compile_dir(folder, quiet=1) for folder in folders)
    precompile_templates()
    return 0 if compiled else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    from wechat.config import ROOT
    from admin.deploy import FLAVOURS, MODES

    p = commands.add_parser("deploy", help="render the Apache vhost for this folder and Python, and check the set-up")
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--flavour", choices=FLAVOURS, default="wamp" if os.name == "nt" else "debian")
    p.add_argument("--server-name", default="wechat.example.com")
    p.add_argument("--port", type=int, default=80, help="the vhost's port (default 80)")
    p.add_argument("--backend-port", type=int, default=9000, help="proxy-fcgi: the FastCGI backend's port")
    p.add_argument("--python", help="interpreter Apache should run (default: the one running this)")
    p.add_argument("--root", default=ROOT, help="the app folder (default: this one)")
    p.add_argument("--apache-user", default="www-data")
    p.add_argument("--output", help="write the vhost here instead of stdout")
    p.add_argument("--dry-run", action="store_true", help="cgi: do not rewrite code.py's first line")
    p.set_defaults(func=cmd_deploy)

    p = commands.add_parser("precompile", help="byte-compile the app and its templates (deploy runs this)")
    p.set_defaults(func=cmd_precompile)

    p = commands.add_parser("doctor", help="only the deployment checks; exit 1 when any fails")
    p.add_argument("--mode", choices=MODES, default="cgi")
    p.add_argument("--python")
    p.add_argument("--apache-user", default="www-data")
    p.set_defaults(func=cmd_doctor)

    p = commands.add_parser("simulate", help="play WeChat's side against a URL (verification, messages)")
    p.add_argument("url")
    p.add_argument("-m", "--message", nargs="+", action="append", metavar=("KIND", "ARG"),
                   help="send one message: text 你好 | subscribe [scene] | click KEY | image | location | voice ... "
                        "(repeatable; default: text and subscribe)")
    p.add_argument("--token", help="default: from config")
    p.add_argument("--encrypt", action="store_true", help="safe mode: encrypt messages, decrypt replies")
    p.add_argument("--compat", action="store_true", help="compatible mode: plain fields and Encrypt")
    p.add_argument("--aes-key")
    p.add_argument("--appid")
    p.add_argument("--no-verify", action="store_true", help="skip the verification GET and the forgery check")
    p.set_defaults(func=cmd_simulate)

    p = commands.add_parser("token", help="print the access token, fetching one only if needed")
    p.add_argument("--refresh", action="store_true", help="fetch a new one even if the cached one is valid")
    p.set_defaults(func=cmd_token)

    p = commands.add_parser("menu", help="push, show or delete the custom menu")
    p.add_argument("action", choices=("push", "show", "delete"))
    p.add_argument("file", nargs="?", help="push: the menu JSON (see menu.json)")
    p.set_defaults(func=cmd_menu)

    p = commands.add_parser("send", help="send a customer-service text message to a follower")
    p.add_argument("openid")
    p.add_argument("text")
    p.set_defaults(func=cmd_send)

    p = commands.add_parser("export", help="write the message log as CSV or JSON lines")
    p.add_argument("--since", help="YYYY-MM-DD[THH:MM[:SS]] or a Unix time (default: the beginning)")
    p.add_argument("--until", help="same forms; not included (default: now)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    p.add_argument("--output", help="a file instead of stdout")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("journal", help="merge the message journal into the log now (export does it too), "
                                             "or say what is waiting")
    p.add_argument("action", choices=("merge", "status"))
    p.add_argument("--from-log", action="append", metavar="FILE",
                   help="also read back records an error log holds (written when the data dir was unwritable)")
    p.set_defaults(func=cmd_journal)

    p = commands.add_parser("jokes", help="fetch jokes from a web page into the store, or count them")
    p.add_argument("action", choices=("fetch", "count"))
    p.add_argument("url", nargs="?")
    p.add_argument("--selector", help="elements holding one joke each: tag, .class, #id, tag.class (default p)")
    p.add_argument("--regex", help="instead of --selector: a regex whose group 1 (or match) is a joke")
    p.set_defaults(func=cmd_jokes)

    args = parser.parse_args(argv)
    if getattr(args, "action", None) == "fetch" and args.func is cmd_jokes and not args.url:
        parser.error("jokes fetch needs a URL")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
