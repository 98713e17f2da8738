"""WeChat's request signatures: sha1 over the sorted parts, compared in constant time."""

import hashlib
import hmac


def sign(*parts):
    """sha1 hex digest of the parts sorted as strings and joined, as WeChat computes it."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def check_signature(signature, token, timestamp, nonce, *extra):
    """True when `signature` is sign(token, timestamp, nonce, *extra); False on anything missing."""
    if not (signature and token and timestamp and nonce):
        return False
    expected = sign(token, timestamp, nonce, *extra)
    return hmac.compare_digest(expected.encode("ascii"), str(signature).lower().encode("utf-8"))
