"""The custom menu's rules (WeChat's limits), checked before a push by `manage.py menu push` and the console.

A menu is {"button": [...]}: up to 3 buttons, each either an action (type + its field) or a group
of up to 5 sub-buttons. WeChat refuses the whole menu for one bad button, with an errcode that
rarely says which; these checks name the button.
"""

MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES, URL_BYTES = 16, 60, 128, 1024
# type -> the field it needs, and what the console calls it
BUTTON_TYPES = {
    "click": ("key", "send a key to the server"),
    "view": ("url", "open a web page"),
    "miniprogram": ("url", "open a mini program"),
    "scancode_push": ("key", "scan a QR code"),
    "scancode_waitmsg": ("key", "scan, then wait for a reply"),
    "pic_sysphoto": ("key", "take a photo"),
    "pic_photo_or_album": ("key", "photo or album"),
    "pic_weixin": ("key", "WeChat album"),
    "location_select": ("key", "send a location"),
    "media_id": ("media_id", "send a saved material"),
    "article_id": ("article_id", "open a published article"),
    "view_limited": ("media_id", "open a saved article"),
    "article_view_limited": ("article_id", "open a published article (view)"),
}


def _size(text):
    return len(str(text).encode("utf-8"))


def check_button(button, where, top_level):
    problems = []
    name = str(button.get("name") or "").strip()
    limit = NAME_BYTES if top_level else SUB_NAME_BYTES
    if not name:
        problems.append("%s has no name." % where)
    elif _size(name) > limit:
        problems.append("%s: the name %r is %d bytes; WeChat allows %d (%d Chinese characters)."
                        % (where, name, _size(name), limit, limit // 3))
    subs = button.get("sub_button") or []
    if top_level and subs:
        if len(subs) > MAX_SUB_BUTTONS:
            problems.append("%s has %d sub-buttons; WeChat allows %d." % (where, len(subs), MAX_SUB_BUTTONS))
        for j, sub in enumerate(subs, 1):
            problems += check_button(sub, "%s, sub-button %d" % (where, j), False)
        return problems
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        problems.append("%s needs a type (one of %s) or sub-buttons." % (where, ", ".join(BUTTON_TYPES)))
        return problems
    field = BUTTON_TYPES[kind][0]
    value = str(button.get(field) or "").strip()
    if not value:
        problems.append("%s (%s) needs its %s." % (where, kind, field))
    elif field == "key" and _size(value) > KEY_BYTES:
        problems.append("%s: the key is %d bytes; WeChat allows %d." % (where, _size(value), KEY_BYTES))
    elif field == "url":
        if _size(value) > URL_BYTES:
            problems.append("%s: the URL is %d bytes; WeChat allows %d." % (where, _size(value), URL_BYTES))
        elif not value.startswith(("http://", "https://")):
            problems.append("%s: the URL must start with http:// or https://." % where)
    if kind == "miniprogram":
        for needed in ("appid", "pagepath"):
            if not str(button.get(needed) or "").strip():
                problems.append("%s (miniprogram) needs its %s." % (where, needed))
    return problems


def check_menu(menu):
    """Every problem WeChat would refuse the menu for, one sentence each naming the button; [] when fine."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not buttons:
        return ["A menu needs at least one button (\"button\": [...])."]
    problems = []
    if len(buttons) > MAX_BUTTONS:
        problems.append("The menu has %d buttons; WeChat allows %d." % (len(buttons), MAX_BUTTONS))
    for i, button in enumerate(buttons, 1):
        problems += check_button(button, "Button %d" % i, True)
    return problems


def menu_from_api(answer):
    """{"button": [...]} from what WeChat's menu queries return (menu/get or get_current_selfmenu_info).

    The latter wraps sub-buttons as {"list": [...]} and may say the menu is off; both shapes come
    back as a menu that check_menu and menu/create understand.
    """
    if "menu" in answer:
        answer = answer["menu"]
    elif "selfmenu_info" in answer:
        answer = answer["selfmenu_info"] or {}
    buttons = []
    for button in answer.get("button") or []:
        button = dict(button)
        subs = button.get("sub_button")
        if isinstance(subs, dict):
            subs = subs.get("list") or []
        if subs:
            button = {"name": button.get("name", ""), "sub_button": [dict(s) for s in subs]}
        else:
            button.pop("sub_button", None)
        buttons.append(button)
    return {"button": buttons}
