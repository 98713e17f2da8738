"""Settings in one place: config.ini (or $WECHAT_CONFIG), with environment variables on top."""

import os

from wechat.record import Record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENCRYPT_MODES = ("plain", "compat", "safe")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence an admin can act on (for the log only).

    `state` is what may be said in public (/health, a 503): "unreadable", "invalid" or "incomplete",
    never the path or the parser's words.
    """

    def __init__(self, message, state="invalid"):
        super().__init__(message)
        self.state = state


class Settings(Record):
    """Every setting, with its default; built by load_settings()."""

    defaults = {
        "token": "",
        "appid": "",
        "appsecret": "",
        "aes_key": "",
        "encrypt_mode": "plain",
        "data_dir": os.path.join(ROOT, "var"),
        "api_base": "https://api.weixin.qq.com",
        "token_endpoint": "token",
        "redis_url": "",
        "max_body_bytes": 64 * 1024,
        "max_request_age_seconds": 600,  # a signed request's timestamp may differ this much from our clock; 0: off
        "log_file": "",
        "log_retention_days": 90,
        "reply_budget_seconds": 4.5,
        # WeChat delivers a message again 5 s and 10 s after the first try: the last delivery must answer by
        # 10 s + the budget. A slow answer not ready by then is kept for the follower's next message.
        "late_answer_seconds": 14.5,
        "late_answer_text": "答案还在准备中，稍后发任意一条消息就能收到。",
        "session_ttl_seconds": 1800.0,  # a follower's session ends this long after its last change
        "journal": True,  # retry claims, the message log and the nonce memory; off: none of them
        "welcome_text": "感谢关注！发送“帮助”看看我能做什么。",
        "book_api_base": "https://openlibrary.org",
        "rules_file": os.path.join(ROOT, "replies.ini"),
        "jokes_file": os.path.join(ROOT, "handlers", "skills", "jokes.txt"),
        "skill_modules": "",  # comma-separated modules with more skills (importing registers them)
        "llm_api_base": "",  # an OpenAI-compatible API, e.g. https://api.openai.com/v1; "" keeps the chat skill off
        "llm_api_key": "",
        "llm_model": "",
        "llm_system_prompt": "你是这个微信公众号的助手。回答简洁、友好、准确；对方用什么语言提问就用什么语言回答。",
        "llm_timeout_seconds": 30.0,  # with the customer-service API; without it the reply budget bounds a call
        "llm_history_turns": 5,  # earlier question/answer pairs sent along as context; 0: none
        "llm_rate_limit": 20,  # questions to the model per follower per window; 0: no limit
        "llm_rate_window_seconds": 3600,
        "console_session_minutes": 30,  # the web console signs its admin out after this long idle
        "source": "",  # the ini file these came from, for messages; "" when there was none
    }
    fields = tuple(defaults)

    @property
    def has_api_credentials(self):
        """Whether WeChat's API (customer-service messages, menus, users) can be called."""
        return bool(self.appid and self.appsecret)

    @property
    def has_chat_model(self):
        """Whether the chat skill is on: texts nothing else answers go to the language model."""
        return bool(self.llm_api_base and self.llm_model)

    def require_token(self):
        """Raise ConfigError naming the setting when the token is missing."""
        if not self.token:
            where = self.source or config_path()
            raise ConfigError(
                "WeChat token is not set: put 'token = ...' under [wechat] in %s "
                "or set the environment variable WECHAT_TOKEN." % where, "incomplete"
            )

    def require_api_credentials(self):
        """Raise ConfigError naming both settings when WeChat's API cannot be called: it is our configuration,
        not an error from WeChat."""
        if not self.has_api_credentials:
            missing = " and ".join(name for name in ("appid", "appsecret") if not getattr(self, name))
            raise ConfigError(
                "WeChat's API needs the account's AppID and AppSecret (console: 开发 > 基本配置), and %s "
                "is not set: put 'appid = ...' and 'appsecret = ...' under [wechat] in %s, or set the "
                "environment variables WECHAT_APPID and WECHAT_APPSECRET."
                % (missing, self.source or config_path())
            )

    def problems(self):
        """Every setting that stops the server working, one sentence each; [] when all is well."""
        found = []
        try:
            self.require_token()
        except ConfigError as e:
            found.append(str(e))
        if self.encrypt_mode != "plain" or self.aes_key:
            from wechat.crypto import decode_aes_key  # base64 only; the AES library stays unloaded

            try:
                decode_aes_key(self.aes_key)
            except ValueError as e:
                found.append(str(e))
        if bool(self.llm_api_base) != bool(self.llm_model):
            found.append("The chat skill needs both llm_api_base and llm_model (WECHAT_LLM_API_BASE, WECHAT_LLM_MODEL); "
                         "set the missing one, or clear both to keep it off.")
        elif self.llm_api_base and not self.llm_api_base.startswith(("http://", "https://")):
            found.append("llm_api_base must be an http:// or https:// URL, such as https://api.openai.com/v1, not %r."
                         % self.llm_api_base)
        if self.encrypt_mode != "plain" and not self.appid:
            found.append(
                "encrypt_mode %s needs the account's AppID: set appid under [wechat] or WECHAT_APPID."
                % self.encrypt_mode
            )
        return found


# setting -> (ini section, environment variable). The ini key is the setting's name.
SOURCES = {
    "token": ("wechat", "WECHAT_TOKEN"),
    "appid": ("wechat", "WECHAT_APPID"),
    "appsecret": ("wechat", "WECHAT_APPSECRET"),
    "aes_key": ("wechat", "WECHAT_AES_KEY"),
    "encrypt_mode": ("wechat", "WECHAT_ENCRYPT_MODE"),
    "api_base": ("wechat", "WECHAT_API_BASE"),
    "token_endpoint": ("wechat", "WECHAT_TOKEN_ENDPOINT"),
    "data_dir": ("server", "WECHAT_DATA_DIR"),
    "redis_url": ("server", "WECHAT_REDIS_URL"),
    "max_body_bytes": ("server", "WECHAT_MAX_BODY_BYTES"),
    "max_request_age_seconds": ("server", "WECHAT_MAX_REQUEST_AGE"),
    "log_file": ("server", "WECHAT_LOG_FILE"),
    "log_retention_days": ("server", "WECHAT_LOG_RETENTION_DAYS"),
    "reply_budget_seconds": ("server", "WECHAT_REPLY_BUDGET_SECONDS"),
    "late_answer_seconds": ("server", "WECHAT_LATE_ANSWER_SECONDS"),
    "late_answer_text": ("skills", "WECHAT_LATE_ANSWER_TEXT"),
    "journal": ("server", "WECHAT_JOURNAL"),
    "welcome_text": ("skills", "WECHAT_WELCOME_TEXT"),
    "book_api_base": ("skills", "BOOK_API_BASE"),
    "rules_file": ("skills", "WECHAT_RULES_FILE"),
    "jokes_file": ("skills", "WECHAT_JOKES_FILE"),
    "skill_modules": ("skills", "WECHAT_SKILL_MODULES"),
    "llm_api_base": ("llm", "WECHAT_LLM_API_BASE"),
    "llm_api_key": ("llm", "WECHAT_LLM_API_KEY"),
    "llm_model": ("llm", "WECHAT_LLM_MODEL"),
    "llm_system_prompt": ("llm", "WECHAT_LLM_SYSTEM_PROMPT"),
    "llm_timeout_seconds": ("llm", "WECHAT_LLM_TIMEOUT_SECONDS"),
    "llm_history_turns": ("llm", "WECHAT_LLM_HISTORY_TURNS"),
    "llm_rate_limit": ("llm", "WECHAT_LLM_RATE_LIMIT"),
    "llm_rate_window_seconds": ("llm", "WECHAT_LLM_RATE_WINDOW_SECONDS"),
    "session_ttl_seconds": ("skills", "WECHAT_SESSION_TTL_SECONDS"),
    "console_session_minutes": ("console", "WECHAT_CONSOLE_SESSION_MINUTES"),
}


def config_path(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get("WECHAT_CONFIG") or os.path.join(ROOT, "config.ini")


def _convert(name, kind, text):
    text = text.strip()
    try:
        if kind is bool:
            return text.lower() in ("1", "true", "yes", "on")
        return kind(text)
    except ValueError:
        raise ConfigError("Setting %s must be a %s, not %r." % (name, kind.__name__, text))


def load_settings(environ=None):
    """Read the ini file (if any), apply environment overrides, validate, return Settings."""
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    sections = read_ini(path)
    source = path if sections is not None else ""
    sections = sections or {}
    kinds = {name: type(default) for name, default in Settings.defaults.items()}
    values = {"source": source}
    for name, (section, env_name) in SOURCES.items():
        raw = environ.get(env_name)
        if raw is None:
            raw = sections.get(section, {}).get(name)
        if raw is not None:
            kind = kinds[name]
            values[name] = raw.strip() if kind is str else _convert(name, kind, raw)
    settings = Settings(**values)
    for name in ("max_body_bytes", "max_request_age_seconds"):
        if getattr(settings, name) < 0:
            raise ConfigError("Setting %s must not be negative." % name)
    if settings.encrypt_mode not in ENCRYPT_MODES:
        raise ConfigError(
            "encrypt_mode must be one of plain, compat, safe (WECHAT_ENCRYPT_MODE), not %r."
            % settings.encrypt_mode
        )
    return settings


def read_ini(path):
    """{section: {option: value}} as configparser reads the file, or None when there is no file."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(unreadable_config(path, e), "unreadable")
    # utf-8-sig and universal newlines, as a text-mode open would (without loading that codec)
    try:
        text = data.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as e:
        raise ConfigError(malformed_config(path, e))
    sections = plain_ini(text)
    if sections is None:  # something beyond the plain shape: configparser decides, with its own errors
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, path)
        except configparser.Error as e:
            raise ConfigError(malformed_config(path, e))
        sections = {name: dict(parser.items(name)) for name in parser.sections()}
    return sections


def plain_ini(text):
    """The sections of an ini file in the plain shape config.example.ini has, read exactly as configparser
    reads them; None for anything else (continuation lines, `:`, repeats, [DEFAULT] ...).

    configparser costs a CGI request ~1 ms to import (it compiles its regular expressions): a message's
    path reads the common shape without it and leaves the rest, errors included, to it.
    """
    sections, current = {}, None
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if line[0].isspace():
            return None  # indented: a continuation line or an indented option
        if stripped[0] == "[":
            name = stripped[1:-1]
            if stripped[-1] != "]" or not name or name in sections or name == "DEFAULT":
                return None
            current = sections[name] = {}
            continue
        option, equals, value = stripped.partition("=")
        option = option.rstrip().lower()
        if current is None or not equals or ":" in option or not option or option in current:
            return None
        current[option] = value.strip()
    return sections


def malformed_config(path, error):
    return ("Cannot read %s: %s; correct it (config.example.ini shows the format) and check with "
            "`python manage.py doctor`." % (path, str(error).splitlines()[0].rstrip(".")))


def unreadable_config(path, error):
    """One sentence for the log: which file, which user cannot read it, and the command that fixes it."""
    user = _process_user()
    if isinstance(error, PermissionError) and os.name != "nt":
        fix = "run `chgrp %s %s && chmod 640 %s` (readable by its owner and that group only)" % (
            _process_group(), path, path)
    else:
        fix = "check that it is a readable file"
    return "Cannot read %s as user %s (%s): %s." % (path, user, error.strerror or error, fix)


def _process_user():
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USERNAME") or os.environ.get("USER") or "?"


def _process_group():
    try:
        import grp

        return grp.getgrgid(os.getegid()).gr_name
    except (ImportError, KeyError):
        return str(os.getegid())


def new_token(length=32):
    """A token WeChat accepts: 3 to 32 letters and digits."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def write_first_config(path):
    """Create a config file from the example with a fresh random token; return the token."""
    token = new_token()
    with open(os.path.join(ROOT, "config.example.ini"), encoding="utf-8") as f:
        text = f.read()
    text = text.replace("token = \n", "token = %s\n" % token, 1)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # The file holds secrets: readable by its owner (and group, for Apache's user) only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return token
