"""Refused: how any step of a request says "no" with a status, a reason for the client and a log outcome."""


class Refused(Exception):
    """`reason` goes to the client, so it never holds a path, a parser message or a setting's value;
    `detail` (optional) is for the request's log line only: what an admin needs to act on it."""

    def __init__(self, status, reason, outcome, detail=""):
        super().__init__(reason)
        self.status, self.reason, self.outcome, self.detail = status, reason, outcome, detail
