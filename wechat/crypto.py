"""Safe mode (安全模式): WeChat's AES-256-CBC message encryption and the encrypted reply envelope.

plaintext = 16 random bytes + 4-byte big-endian length + XML + appid, PKCS#7-padded to 32-byte
blocks; key = base64(EncodingAESKey + "="), IV = key[:16]; msg_signature = sha1 of the sorted
[token, timestamp, nonce, Encrypt]. The AES library is imported only when a message is encrypted,
so plain-mode CGI requests never pay for it.
"""

import base64
import binascii
import os
import re
import struct

from wechat.signature import check_signature, sign

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
_AES_KEY_CHARS = re.compile(r"^[A-Za-z0-9+/]{43}$")


class CryptoError(ValueError):
    """An encrypted message that cannot be accepted; `status` is the HTTP answer (400 or 403)."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.status = status


def decode_aes_key(encoding_aes_key):
    """The 32-byte AES key from a 43-character EncodingAESKey; ValueError with a sentence if it is not one."""
    text = (encoding_aes_key or "").strip()
    if not _AES_KEY_CHARS.match(text):
        raise ValueError(
            "EncodingAESKey (aes_key / WECHAT_AES_KEY) must be the 43 letters and digits from the WeChat "
            "console (开发 > 基本配置), not %d characters%s."
            % (len(text), "" if len(text) != 43 else " with other symbols")
        )
    return base64.b64decode(text + "=")


def _cipher(key):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


class MessageCrypto:
    Error = CryptoError  # what check() and decrypt() raise, for callers that import this module lazily

    def __init__(self, token, encoding_aes_key, appid):
        self.token = token
        self.key = decode_aes_key(encoding_aes_key)
        self.appid = appid
        self._cipher = None  # built on first use, then kept: the key and the IV never change

    @property
    def cipher(self):
        if self._cipher is None:
            self._cipher = _cipher(self.key)
        return self._cipher

    def check(self, msg_signature, timestamp, nonce, encrypted):
        """403 unless msg_signature signs this Encrypt value."""
        if not check_signature(msg_signature, self.token, timestamp, nonce, encrypted):
            raise CryptoError("msg_signature check failed", 403)

    def decrypt(self, encrypted):
        """The XML bytes inside an Encrypt value, after checking padding, length and appid."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("Encrypt is not valid base64")
        if not data or len(data) % 16:
            raise CryptoError("Encrypt is not a whole number of AES blocks")
        decryptor = self.cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding (wrong EncodingAESKey?)")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CryptoError("decrypted message too short")
        (length,) = struct.unpack(">I", content[:4])
        if 4 + length > len(content):
            raise CryptoError("declared length runs past the data")
        xml, appid = content[4 : 4 + length], content[4 + length :]
        if self.appid and appid.decode("utf-8", "replace") != self.appid:
            raise CryptoError("message is for another account (appid does not match)", 403)
        return xml

    def encrypt(self, xml, random_prefix=None):
        """The Encrypt value (base64 text) for reply XML bytes; random_prefix is for tests only."""
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        body = prefix + struct.pack(">I", len(xml)) + xml + self.appid.encode("utf-8")
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = self.cipher.encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode("ascii")

    def envelope(self, xml, timestamp, nonce, random_prefix=None):
        """The fields of the encrypted reply: Encrypt, MsgSignature, TimeStamp, Nonce."""
        encrypted = self.encrypt(xml, random_prefix)
        return {
            "Encrypt": encrypted,
            "MsgSignature": sign(self.token, timestamp, nonce, encrypted),
            "TimeStamp": str(timestamp),
            "Nonce": str(nonce),
        }
