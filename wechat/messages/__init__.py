"""Incoming messages and events: one hardened minidom parse, then one class per MsgType / Event.

    from wechat.messages import parse_message
    message = parse_message(body)      # TextMessage, SubscribeEvent, UserGetCardEvent ... or Unknown*

The everyday classes live in `standard` (messages) and `events` (following, QR codes, location, menu
clicks); the other families (menus, reports, service, subscriptions, cards, invoices, devices, places,
products, verification, shop, miniprogram) are imported only when a body names an event not found
among the everyday ones, so a CGI process answering a text or a click never builds their classes.
`all_types()` loads everything (README's table, tests); any class is also reachable as an attribute
of this package (`wechat.messages.UserGetCardEvent`).
"""

import importlib

from wechat.messages import base, events, standard
from wechat.messages.base import EVENT_TYPES, MESSAGE_TYPES, UnknownEvent, UnknownMessage
from wechat.xmlparse import ParseError, parse_xml

FAMILIES = ("menus", "reports", "service", "subscriptions", "cards", "invoices", "devices", "places", "products",
            "verification", "shop", "miniprogram")
_loaded = []  # True once every family is imported


def _classes(module):
    return {name: value for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__}


for _module in (base, standard, events):
    globals().update(_classes(_module))


def all_types():
    """Import every family once; returns (MESSAGE_TYPES, EVENT_TYPES)."""
    if not _loaded:
        for family in FAMILIES:
            globals().update(_classes(importlib.import_module("wechat.messages." + family)))
        _loaded.append(True)
    return MESSAGE_TYPES, EVENT_TYPES


def __getattr__(name):
    # A class of a family not imported yet (PEP 562: called only for names not already here).
    if not _loaded:
        all_types()
        if name in globals():
            return globals()[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _structural(value):
    return value.strip() if type(value) is str else ""


def parse_message(body):
    """Parse a POST body into the Message subclass for its MsgType / Event (ParseError when it is not one)."""
    raw = parse_xml(body)
    msg_type = _structural(raw.get("MsgType")).lower()
    if not msg_type:
        raise ParseError("MsgType is missing")
    if msg_type != "event" and not msg_type.startswith("device_"):
        return MESSAGE_TYPES.get(msg_type, UnknownMessage)(raw)
    name = _structural(raw.get("Event")).lower()
    if msg_type != "event":  # hardware: MsgType device_text, or device_event with Event bind, unbind ...
        name = "device_" + name if name else msg_type
    cls = EVENT_TYPES.get(name)
    if cls is None and not _loaded:
        all_types()
        cls = EVENT_TYPES.get(name)
    return (cls or UnknownEvent).refine(raw)(raw)
