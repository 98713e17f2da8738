"""Refused: how any step of a request says "no" with a status, a reason for the client and a log outcome."""


class Refused(Exception):
    def __init__(self, status, reason, outcome):
        super().__init__(reason)
        self.status, self.reason, self.outcome = status, reason, outcome
