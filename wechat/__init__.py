"""The WeChat protocol, free of web.py: signature, crypto, messages, replies, store, API client."""

__version__ = "0.1.0"
