#!/usr/bin/env python3
"""The admin's command line: deploy, doctor, simulate, token, menu, send, export, journal, types, jokes,
admin-password. `python manage.py -h`."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    import importlib.util

    if importlib.util.find_spec("web") is None:  # Debian's own Python: use (or make) the .venv code.py uses
        from admin.bootstrap import run_in_venv

        run_in_venv(os.path.abspath(__file__), sys.argv[1:])


def cmd_deploy(args):
    from admin import deploy

    python = args.python or sys.executable
    if (args.cert or args.key or args.redirect_http) and not args.https:
        print("manage.py deploy: --cert, --key and --redirect-http go with --https", file=sys.stderr)
        return 2
    try:
        text = deploy.render_vhost(args.mode, args.flavour, args.root, python, args.server_name, args.port,
                                   args.backend_port, args.https, args.cert, args.key, args.redirect_http,
                                   args.http_port, args.admin_allow)
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
    if args.mode == "proxy-fcgi" and args.flavour == "wamp":
        from admin import windows

        folder = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
        wrapper, task, log = windows.write_backend_files(folder, python, args.root, args.backend_port)
        print("# wrote %s and %s: keep the backend running with, as Administrator,\n"
              "#   schtasks /Create /TN \"%s\" /XML \"%s\" && schtasks /Run /TN \"%s\"\n"
              "# its log: %s" % (wrapper, task, windows.TASK_NAME, task, windows.TASK_NAME, log), file=sys.stderr)
    problems = []
    if args.https and args.flavour == "debian":
        problems += deploy.check_certificate(text)
    if args.flavour == "debian":
        problems += deploy.run_checks(args.mode, python, args.apache_user, args.root, ("127.0.0.1", args.backend_port))
    else:
        problems += deploy.check_config() + deploy.check_templates(args.root)
    report(problems)
    return 0


def cmd_doctor(args):
    from admin import deploy

    problems = []
    if args.mode or not args.url:
        python = args.python or sys.executable
        problems += deploy.run_checks(args.mode or "cgi", python, args.apache_user, args.root,
                                      ("127.0.0.1", args.backend_port))
    if args.url:
        problems += check_live_site(args)
    report(problems)
    return 1 if problems else 0


def check_live_site(args):
    from admin.probe import check_site
    from wechat.config import ConfigError, load_settings
    from wechat.http import tls_context

    token, source = args.token, "--token"
    if not token:
        try:
            settings = load_settings()
        except ConfigError as e:
            return [str(e)]
        token, source = settings.token, settings.source or "WECHAT_TOKEN"
        if not token:
            return ["No token to sign with: pass --token (the one in WeChat's console) or set token in config.ini."]
    try:
        tls = tls_context(args.cafile, args.insecure)
    except OSError as e:
        return ["Cannot read the CA file %s: %s." % (args.cafile, e.strerror or e)]
    return check_site(args.url, token, bool(args.token), source, tls)


def report(problems):
    """Checks go to stderr, so a vhost on stdout stays clean; "all passed" only when nothing was found."""
    for problem in problems:
        print("problem: %s" % problem, file=sys.stderr)
    print("checks: %s" % ("%d problem(s)" % len(problems) if problems else "all passed"), file=sys.stderr)


def cmd_simulate(args):
    from admin import simulator
    from wechat.config import ConfigError, load_settings
    from wechat.http import tls_context
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
    note = "the token given with --token" if args.token else "the token in %s" % (settings.source or "WECHAT_TOKEN")
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
    try:
        tls = tls_context(args.cafile, args.insecure)
    except OSError as e:
        print("manage.py simulate: cannot read the CA file %s: %s" % (args.cafile, e.strerror or e), file=sys.stderr)
        return 2
    run = Run(args.url, token, crypto, args.compat, tls=tls, token_note=note)
    if not args.no_verify:
        run.verify()
        run.forged()
    for kind, argument in args.messages:
        if kind not in simulator.KINDS:
            print("manage.py simulate: unknown kind %r; one of %s" % (kind, ", ".join(simulator.KINDS)), file=sys.stderr)
            return 2
        run.send(kind, argument)
    return 1 if run.failures else 0


def simulate_url_anywhere(args, parser):
    """`simulate -m text 你好 URL` as well as `simulate URL -m text 你好`: -m takes KIND [ARG], and any word
    after those is the URL; a lone -m ARG that is a URL (and not the argument of link/view) is the URL too."""
    groups = [list(group) for group in args.message or []]
    positionals = [args.url] if args.url else []
    for group in groups:
        positionals += group[2:]
        del group[2:]
    if not positionals and groups and len(groups[-1]) == 2 and groups[-1][0] not in ("link", "view") \
            and groups[-1][1].startswith(("http://", "https://")):
        positionals.append(groups[-1].pop())
    if len(positionals) != 1:
        parser.error("simulate needs one server URL (http://... or https://...), got %s"
                     % (", ".join(positionals) if positionals else "none"))
    args.url = positionals[0]
    args.messages = [(g[0], g[1] if len(g) > 1 else None) for g in groups] or [("text", "你好，微信"), ("subscribe", None)]


def command_store(settings):
    """The store for a command; run as root, what it creates in the data dir belongs to the data dir's owner."""
    from admin.ownership import keep_data_dir_owner
    from handlers.runtime import current_store

    if not settings.redis_url:
        keep_data_dir_owner(settings.data_dir, os.path.join(settings.data_dir, "wechat.sqlite3"))
    return current_store(settings)


def api_client():
    from handlers.runtime import current_settings
    from wechat.client import WeChatClient

    settings = current_settings()
    settings.require_api_credentials()  # before the store: a missing secret is the first thing to say
    store = command_store(settings)
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
            client.menu_create(menu)
            print("menu pushed: %d top-level buttons" % len(menu.get("button", [])))
        elif args.action == "show":
            print(json.dumps(client.menu_get(), ensure_ascii=False, indent=2))
        else:
            client.menu_delete()
            print("menu deleted")
        return 0

    menu = None
    if args.action == "push":
        if not args.file:
            print("manage.py menu push: name the menu file (see menu.json)", file=sys.stderr)
            return 2
        from admin.menu import check_menu

        try:
            with open(args.file, encoding="utf-8") as f:
                menu = json.load(f)
        except (OSError, ValueError) as e:
            print("manage.py menu push: cannot read %s: %s" % (args.file, e), file=sys.stderr)
            return 2
        problems = check_menu(menu)
        if problems:
            for problem in problems:
                print("manage.py menu push: %s" % problem, file=sys.stderr)
            return 2
    return api_command(work)


def cmd_send(args):
    def work(client):
        client.send_text(args.openid, args.text)
        print("sent")
        return 0

    return api_command(work)


EXPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", "": "jsonl"}


def cmd_export(args):
    from handlers.runtime import current_settings
    from admin.export import parse_when, write_log

    fmt = args.format
    if fmt is None:
        extension = os.path.splitext(args.output or "")[1].lower()
        fmt = EXPORT_FORMATS.get(extension)
        if fmt is None:
            print("manage.py export: cannot tell the format from %r: name the file .csv or .jsonl, or pass --format"
                  % args.output, file=sys.stderr)
            return 2
    try:
        since, until = parse_when(args.since), parse_when(args.until)
    except ValueError as e:
        print("manage.py export: %s" % e, file=sys.stderr)
        return 2
    settings = current_settings()
    store = command_store(settings)
    if store is None:
        return 1
    merge_journal(settings, store)  # what is still in the journal belongs in the export too
    if args.sessions:  # the followers' conversation state instead of the message log
        from admin.export import write_sessions

        records, write, what = store.session_iter(), write_sessions, "sessions"
    else:
        records, write, what = store.log_iter(since, until), write_log, "messages"
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            count = write(records, fmt, f)
    else:
        count = write(records, fmt, sys.stdout)
        sys.stdout.flush()  # a closed pipe shows here, inside main's handler, not at interpreter exit
    print("exported %d %s (%s)" % (count, what, fmt), file=sys.stderr)
    return 0


def cmd_types(args):
    from admin import types

    sys.stdout.write(types.markdown() if args.markdown else types.plain())
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
    from handlers.runtime import current_settings
    from wechat.store import StoreError

    settings = current_settings()
    store = command_store(settings)
    if store is None:
        return 1
    if args.action == "status":
        from wechat.journal import JournalFile, read_records

        pending = JournalFile(settings.data_dir).pending()
        waiting, files = 0, 0
        for path in pending:
            try:
                with open(path, "rb") as f:
                    data = f.read()
                # A file its process is still writing may be in the log already (an export merged it).
                missing = [r for r in read_records(data) if store.log_find(r["key"]) is None]
            except FileNotFoundError:
                continue  # merged meanwhile
            except StoreError as e:
                print("manage.py journal status: %s" % e, file=sys.stderr)
                return 1
            waiting += len(missing)
            files += bool(missing)
        print("%d records in %d journal files waiting to be merged into the log" % (waiting, files))
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

    from handlers.runtime import current_settings
    from handlers.skills.backends import jokes

    settings = current_settings()
    store, jokes_file = command_store(settings), settings.jokes_file
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
    from handlers.console.page import precompile as precompile_console  # the console's own templates

    precompile_console()
    return 0 if compiled else 1


def read_new_password(stdin=None):
    """The new console password: typed twice at a terminal, or the first line of piped stdin."""
    import getpass

    stdin = stdin or sys.stdin
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New console password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ; nothing changed")
    return first


def cmd_admin_password(args):
    from admin import passwords
    from wechat.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as e:
        print("manage.py admin-password: %s" % e, file=sys.stderr)
        return 2
    if args.off:
        removed = passwords.remove_password(settings)
        print("console off: /admin now answers 404" if removed else "console was already off")
        return 0
    try:
        password = read_new_password()
    except (ValueError, EOFError, KeyboardInterrupt) as e:
        print("manage.py admin-password: %s" % (e or "cancelled"), file=sys.stderr)
        return 2
    if len(password) < passwords.MIN_LENGTH:
        print("manage.py admin-password: use at least %d characters; nothing changed" % passwords.MIN_LENGTH,
              file=sys.stderr)
        return 2
    try:
        path = passwords.write_password_hash(settings, passwords.hash_password(password))
    except OSError as e:
        print("manage.py admin-password: cannot write the password file: %s" % e, file=sys.stderr)
        return 1
    print("console password set (hash in %s); sign in at /admin" % path)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, summary, details="", func=None):
        """A sub-command whose help line is `summary` and whose own -h starts with it."""
        p = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + "." +
                                (" " + details if details else ""))
        p.set_defaults(func=func)
        return p

    from wechat.config import ROOT
    from admin.deploy import FLAVOURS, MODES

    p = command("deploy", "render the Apache vhost for this folder and Python, and check the set-up",
                "The vhost goes to stdout or --output; its header says what to enable and where each log line lands. "
                "The checks (the same as doctor's) go to stderr.", cmd_deploy)
    p.add_argument("--mode", choices=MODES, required=True,
                   help="cgi (simplest), fcgid (warm processes; Linux), proxy-fcgi (a backend you start; Windows)")
    p.add_argument("--flavour", choices=FLAVOURS, default="wamp" if os.name == "nt" else "debian")
    p.add_argument("--server-name", default="wechat.example.com", help="the host name in WeChat's console URL")
    p.add_argument("--port", type=int, help="the vhost's port (default 80, or 443 with --https)")
    p.add_argument("--https", action="store_true", help="serve over TLS (SSLEngine on); needs mod_ssl")
    p.add_argument("--cert", help="--https: the certificate chain (default: certbot's fullchain.pem for --server-name)")
    p.add_argument("--key", help="--https: the private key (default: certbot's privkey.pem for --server-name)")
    p.add_argument("--redirect-http", action="store_true",
                   help="--https: also a port-80 vhost that redirects browsers to https:// and still answers WeChat "
                        "(WeChat follows no redirects)")
    p.add_argument("--http-port", type=int, default=80, help="--redirect-http: its port (default 80)")
    p.add_argument("--backend-port", type=int, default=9000, help="proxy-fcgi: the FastCGI backend's port")
    p.add_argument("--python", help="interpreter Apache should run (default: the one running this)")
    p.add_argument("--root", default=ROOT, help="the app folder (default: this one)")
    p.add_argument("--apache-user", "--user", default="www-data",
                   help="the user the app runs as (Apache's; for proxy-fcgi the backend's); default www-data")
    p.add_argument("--output", help="write the vhost here instead of stdout")
    p.add_argument("--dry-run", action="store_true", help="cgi: do not rewrite code.py's first line")
    p.add_argument("--admin-allow", action="append", default=[], metavar="CIDR",
                   help="only these addresses reach /admin (Apache `Require ip`); repeatable")

    command("precompile", "byte-compile the app and its templates (deploy runs this)", func=cmd_precompile)

    p = command("doctor", "find what breaks a deployment; exit 1 when anything does",
                "Without --url: this machine's set-up (config, code.py, interpreter, data dir ownership, the proxy-fcgi "
                "backend). With --url: the live site, signed as WeChat signs (add --mode to check this machine too).",
                cmd_doctor)
    p.add_argument("--mode", choices=MODES, help="the deployment to check (default cgi; with --url: none)")
    p.add_argument("--url", help="the server URL as in WeChat's console: sign a verification GET and a text POST")
    p.add_argument("--token", help="--url: sign with this token (the one in WeChat's console) instead of config.ini's")
    p.add_argument("--cafile", help="--url: trust this CA certificate (a self-signed server)")
    p.add_argument("--insecure", action="store_true", help="--url: do not verify the server's certificate")
    p.add_argument("--python")
    p.add_argument("--root", default=ROOT, help="the app folder (default: this one)")
    p.add_argument("--apache-user", "--user", default="www-data",
                   help="the user the app runs as (Apache's; for proxy-fcgi the backend's); default www-data")
    p.add_argument("--backend-port", type=int, default=9000, help="proxy-fcgi: the FastCGI backend's port")

    p = command("simulate", "play WeChat's side against a URL (verification, a forged POST, messages)",
                "Exit 1 when any answer is not what WeChat accepts. The URL may come anywhere: "
                "`simulate URL -m text 你好` or `simulate -m text 你好 URL`.", cmd_simulate)
    p.add_argument("url", nargs="?", help="the server URL, http://... or https://...")
    p.add_argument("-m", "--message", nargs="+", action="append", metavar=("KIND", "ARG"),
                   help="send one message: text 你好 | subscribe [scene] | click KEY | image | location | voice ... "
                        "(repeatable; default: text and subscribe)")
    p.add_argument("--token", help="default: from config")
    p.add_argument("--encrypt", action="store_true", help="safe mode: encrypt messages, decrypt replies")
    p.add_argument("--compat", action="store_true", help="compatible mode: plain fields and Encrypt")
    p.add_argument("--aes-key")
    p.add_argument("--appid")
    p.add_argument("--no-verify", action="store_true", help="skip the verification GET and the forgery check")
    p.add_argument("--cafile", help="https: trust this CA certificate (e.g. a self-signed one)")
    p.add_argument("--insecure", action="store_true", help="https: do not verify the certificate")

    p = command("token", "print the access token, fetching one only if needed", "Needs appid and appsecret.", cmd_token)
    p.add_argument("--refresh", action="store_true", help="fetch a new one even if the cached one is valid")

    p = command("menu", "push, show or delete the custom menu", "Needs appid and appsecret.", cmd_menu)
    p.add_argument("action", choices=("push", "show", "delete"))
    p.add_argument("file", nargs="?", help="push: the menu JSON (see menu.json)")

    p = command("send", "send a customer-service text message to a follower",
                "Allowed within 48 hours of the follower's last message. Needs appid and appsecret.", cmd_send)
    p.add_argument("openid")
    p.add_argument("text")

    p = command("admin-password", "set the web console's password (/admin stays 404 until one is set)",
                func=cmd_admin_password)
    p.add_argument("--off", action="store_true", help="remove the password: /admin answers 404 again")

    p = command("export", "write the message log as CSV or JSON lines",
                "The format follows --output's extension (.csv, .jsonl) unless --format says otherwise.", cmd_export)
    p.add_argument("--since", help="YYYY-MM-DD[THH:MM[:SS]] or a Unix time (default: the beginning)")
    p.add_argument("--until", help="same forms; not included (default: now)")
    p.add_argument("--format", choices=("csv", "jsonl"), help="default: from --output's extension, else jsonl")
    p.add_argument("--output", help="a file instead of stdout")
    p.add_argument("--sessions", action="store_true",
                   help="the followers' live sessions (what skills remember) instead of the message log")

    p = command("types", "list every message and event type parsed to its own class", func=cmd_types)
    p.add_argument("--markdown", action="store_true", help="as README's table, with what each type is and its attributes")

    p = command("journal", "merge the message journal into the log now (export does it too), or say what is waiting",
                func=cmd_journal)
    p.add_argument("action", choices=("merge", "status"))
    p.add_argument("--from-log", action="append", metavar="FILE",
                   help="also read back records an error log holds (written when the data dir was unwritable)")

    p = command("jokes", "fetch jokes from a web page into the store, or count them", func=cmd_jokes)
    p.add_argument("action", choices=("fetch", "count"))
    p.add_argument("url", nargs="?")
    p.add_argument("--selector", help="elements holding one joke each: tag, .class, #id, tag.class (default p)")
    p.add_argument("--regex", help="instead of --selector: a regex whose group 1 (or match) is a joke")

    args = parser.parse_args(argv)
    if getattr(args, "action", None) == "fetch" and args.func is cmd_jokes and not args.url:
        parser.error("jokes fetch needs a URL")
    if args.func is cmd_simulate:
        simulate_url_anywhere(args, commands.choices["simulate"])
    try:
        return args.func(args)
    except BrokenPipeError:
        # `manage.py export | head`: the reader has gone, so stop quietly, as cat does. Point stdout at
        # /dev/null first, or Python's final flush raises again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for cat in the same place


if __name__ == "__main__":
    sys.exit(main())
