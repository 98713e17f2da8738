"""The console's password: a salted slow hash (scrypt, or PBKDF2 where scrypt is missing) in the data dir.

`manage.py admin-password` writes it; the console reads it on each request. No file, no console:
every /admin URL answers 404 until an admin has chosen a password.
"""

import base64
import hashlib
import hmac
import os
import secrets

FILE_NAME = "console-password"
MIN_LENGTH = 8
# scrypt at n=2**14, r=8: ~16 MiB and ~50 ms per check: cheap for one login, dear for a guesser.
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
PBKDF2_ROUNDS = 600000


def password_path(settings):
    return os.path.join(settings.data_dir, FILE_NAME)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def hash_password(password):
    """'scrypt$n$r$p$salt$hash' (or 'pbkdf2_sha256$rounds$salt$hash' without OpenSSL's scrypt)."""
    salt = secrets.token_bytes(16)
    secret = password.encode("utf-8")
    if hasattr(hashlib, "scrypt"):
        digest = hashlib.scrypt(secret, salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **SCRYPT)
        return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT["n"], SCRYPT["r"], SCRYPT["p"], _b64(salt), _b64(digest))
    digest = hashlib.pbkdf2_hmac("sha256", secret, salt, PBKDF2_ROUNDS)
    return "pbkdf2_sha256$%d$%s$%s" % (PBKDF2_ROUNDS, _b64(salt), _b64(digest))


def verify_password(password, stored):
    """Whether password matches the stored hash; False for anything malformed."""
    secret = password.encode("utf-8")
    try:
        parts = stored.strip().split("$")
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            digest = hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=64 * 1024 * 1024)
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            digest = hashlib.pbkdf2_hmac("sha256", secret, salt, int(parts[1]))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def read_password_hash(settings):
    """The stored hash, or None when no password is set (or the file cannot be read)."""
    try:
        with open(password_path(settings), encoding="ascii") as f:
            stored = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return stored or None


def write_password_hash(settings, stored):
    """Write the hash atomically, readable only by the data dir's owner (Apache's user) and root."""
    os.makedirs(settings.data_dir, exist_ok=True)
    path = password_path(settings)
    partial = "%s.%d" % (path, os.getpid())
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(stored + "\n")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Run as root (sudo manage.py ...): hand the file to whoever owns the data dir, i.e. the
        # user the server runs as, or it could not read it.
        owner = os.stat(settings.data_dir)
        os.chown(partial, owner.st_uid, owner.st_gid)
    os.replace(partial, path)
    return path


def remove_password(settings):
    """Turn the console off; True when there was a password."""
    try:
        os.remove(password_path(settings))
        return True
    except FileNotFoundError:
        return False
