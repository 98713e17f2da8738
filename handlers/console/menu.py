"""The custom menu as a tree of forms, a preview of the chat's menu bar, and push / fetch / delete via the API."""

import json
import time

from admin.menu import BUTTON_TYPES, MAX_BUTTONS, MAX_SUB_BUTTONS, check_menu, menu_from_api
from handlers.console.page import Page, render
from wechat.record import Record

CACHE_KEY = "console:menu"  # the menu last pushed or fetched, so the page opens with it
CACHE_SECONDS = 365 * 86400
EXTRA_FIELDS = ("appid", "pagepath")  # a mini program button's own fields


class Row(Record):
    """One button as the form shows it: name, type, the type's value, and a mini program's appid/pagepath."""

    fields = ("name", "type", "value", "appid", "pagepath")
    defaults = {"name": "", "type": "click", "value": "", "appid": "", "pagepath": ""}

    @classmethod
    def from_button(cls, button):
        kind = button.get("type", "click")
        field = BUTTON_TYPES.get(kind, ("key",))[0]
        return cls(button.get("name", ""), kind, button.get(field, ""), button.get("appid", ""),
                   button.get("pagepath", ""))

    def button(self):
        field = BUTTON_TYPES.get(self.type, ("key",))[0]
        button = {"type": self.type, "name": self.name.strip(), field: self.value.strip()}
        if self.type == "miniprogram":
            button.update(appid=self.appid.strip(), pagepath=self.pagepath.strip())
        return button


def rows_from_menu(menu):
    """[(top Row, [sub Rows])] padded to 3 buttons of 5 sub-buttons, for the form."""
    tree = []
    for button in (menu or {}).get("button", [])[:MAX_BUTTONS]:
        subs = [Row.from_button(s) for s in (button.get("sub_button") or [])[:MAX_SUB_BUTTONS]]
        top = Row(button.get("name", "")) if subs else Row.from_button(button)
        tree.append((top, subs))
    tree += [(Row(), []) for _ in range(MAX_BUTTONS - len(tree))]
    return [(top, subs + [Row() for _ in range(MAX_SUB_BUTTONS - len(subs))]) for top, subs in tree]


def menu_from_form(form):
    """The menu the form describes: rows without a name are left out; a button with sub-buttons is a group."""
    def row(prefix):
        return Row(*((form.get("%s_%s" % (prefix, f)) or "").strip() for f in Row.fields))

    buttons = []
    for i in range(MAX_BUTTONS):
        top = row("b%d" % i)
        subs = [row("b%ds%d" % (i, j)) for j in range(MAX_SUB_BUTTONS)]
        subs = [s.button() for s in subs if s.name]
        if subs:
            buttons.append({"name": top.name, "sub_button": subs})
        elif top.name:
            buttons.append(top.button())
    return {"button": buttons}


def cached_menu(store):
    value = store.get(CACHE_KEY)
    return json.loads(value) if value else None


def remember(store, menu, how):
    store.set(CACHE_KEY, json.dumps({"menu": menu, "how": how, "at": time.time()}, ensure_ascii=False), CACHE_SECONDS)


class Menu(Page):
    def show(self, console, menu=None, notice="", error="", problems=(), origin=None):
        if menu is None:
            cached = cached_menu(console.store)
            menu = cached["menu"] if cached else None
            origin = origin or cached
        return render.menu(rows_from_menu(menu), menu or {"button": []}, notice, error, list(problems), origin,
                           BUTTON_TYPES, console.settings.has_api_credentials)

    def act(self, console, form):
        action = form.get("action") or "preview"
        if action in ("fetch", "delete"):
            return self.call_api(console, action)
        menu = menu_from_form(form)
        problems = check_menu(menu)
        if action != "push" or problems:
            return self.show(console, menu, problems=problems,
                             notice="" if problems else "Preview only: not pushed yet.")
        from wechat.client import WeChatAPIError, WeChatClient

        try:
            WeChatClient(console.settings, console.store).menu_create(menu)
        except WeChatAPIError as e:
            console.audit("tried to push the menu: WeChat answered %s" % e.errcode)
            return self.show(console, menu, error="WeChat refused the menu: errcode %s, errmsg %s"
                             % (e.errcode, e.errmsg))
        remember(console.store, menu, "pushed")
        console.audit("pushed the menu (%d buttons)" % len(menu["button"]))
        return self.show(console, menu, notice="Pushed. Followers see the new menu within about five minutes "
                                                "(at once after following again).",
                         origin=cached_menu(console.store))

    def call_api(self, console, action):
        from wechat.client import WeChatAPIError, WeChatClient

        try:
            client = WeChatClient(console.settings, console.store)
            answer = client.menu_get() if action == "fetch" else client.menu_delete()
        except WeChatAPIError as e:
            console.audit("tried to %s the menu: WeChat answered %s" % (action, e.errcode))
            hint = " (there is no menu)" if e.errcode == 46003 else ""
            return self.show(console, error="WeChat refused to %s the menu: errcode %s, errmsg %s%s"
                             % (action, e.errcode, e.errmsg, hint))
        if action == "delete":
            console.store.delete(CACHE_KEY)
            console.audit("deleted the menu")
            return self.show(console, {"button": []}, notice="Deleted: the account has no menu now.")
        menu = menu_from_api(answer)
        remember(console.store, menu, "fetched")
        console.audit("fetched the menu (%d buttons)" % len(menu["button"]))
        if answer.get("is_menu_open") == 0:
            return self.show(console, menu, error="WeChat says the menu is switched off for this account.")
        return self.show(console, menu, notice="Fetched from WeChat: %d buttons." % len(menu["button"]),
                         origin=cached_menu(console.store))
