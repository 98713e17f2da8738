"""The encryption envelope of one request: the message XML inside, and `seal()` for the reply going out.

Plain requests get an envelope whose seal changes nothing; safe and compatible mode's encrypted
requests (encrypt_type=aes) are opened with the account's key and their replies sealed in kind.
Only an encrypted request loads the AES code.
"""

from handlers.refused import Refused
from handlers.render import render_envelope
from wechat.config import ConfigError
from wechat.xmlparse import ParseError, envelope_field


class PlainEnvelope:
    encrypted = False

    def __init__(self, xml):
        self.xml = xml

    def seal(self, reply):
        return reply


class SealedEnvelope:
    """An encrypted request: its reply goes back encrypted, with the request's timestamp and nonce."""

    encrypted = True

    def __init__(self, xml, crypto, timestamp, nonce):
        self.xml, self.crypto, self.timestamp, self.nonce = xml, crypto, timestamp, nonce

    def seal(self, reply):
        return render_envelope(self.crypto.envelope(reply, self.timestamp, self.nonce))


_cryptos = {}  # (token, aes_key, appid) -> MessageCrypto, which keeps its cipher


def message_crypto(settings):
    """The account's MessageCrypto; ConfigError (a sentence for the admin) when key or appid is wrong.

    Checked per message, not only in safe mode: an admin who switched the console to safe mode
    before config.ini gets this sentence in the error log rather than a mystery.
    """
    if not settings.appid:
        raise ConfigError("Encrypted messages need the account's AppID: set appid under [wechat] or WECHAT_APPID.")
    account = (settings.token, settings.aes_key, settings.appid)
    crypto = _cryptos.get(account)
    if crypto is None:
        from wechat.crypto import MessageCrypto

        try:
            crypto = MessageCrypto(*account)
        except ValueError as e:
            raise ConfigError(str(e))
        _cryptos.clear()  # one account per process: keep only the current one
        _cryptos[account] = crypto
    return crypto


def open_envelope(body, query, settings):
    """The envelope of a POST body; Refused when it cannot be opened, ConfigError when we cannot open it.

    WeChat marks encrypted requests with encrypt_type=aes; compatible mode sends both kinds, and
    each is answered in kind.
    """
    if query.get("encrypt_type", "raw").lower() != "aes":
        if settings.encrypt_mode == "safe":
            raise Refused("400 Bad Request", "this server is in safe mode: messages must be encrypted", "plain-in-safe-mode")
        return PlainEnvelope(body)
    crypto = message_crypto(settings)
    try:
        encrypted = envelope_field(body, "Encrypt")
    except ParseError as e:
        raise Refused("400 Bad Request", "bad message", "bad-xml", str(e))
    if not encrypted or not isinstance(encrypted, str):
        raise Refused("400 Bad Request", "bad message: Encrypt is missing", "bad-crypto")
    try:
        crypto.check(query.get("msg_signature"), query.get("timestamp"), query.get("nonce"), encrypted)
        xml = crypto.decrypt(encrypted)
    except crypto.Error as e:
        status = "403 Forbidden" if e.status == 403 else "400 Bad Request"
        raise Refused(status, "bad encrypted message", "bad-crypto", str(e))
    return SealedEnvelope(xml, crypto, query.get("timestamp"), query.get("nonce"))
