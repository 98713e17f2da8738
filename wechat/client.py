"""WeChat's server API: access token, menus, customer-service messages, users, template messages.

Every call has a timeout; every failure is one exception type with errcode and errmsg (a missing appid
or appsecret is ours: a ConfigError). A call that fails with an expired or invalid token (40001, 40014,
42001) drops the token, fetches one new one and retries once; never in a loop.
"""

import json

from wechat.token import AccessTokens, TokenTimeout

TOKEN_ERRORS = (40001, 40014, 42001)


class WeChatAPIError(Exception):
    def __init__(self, errcode, errmsg):
        super().__init__("WeChat API error %s: %s" % (errcode, errmsg))
        self.errcode, self.errmsg = errcode, errmsg


class WeChatClient:
    def __init__(self, settings, store, timeout=5.0):
        settings.require_api_credentials()  # ConfigError: ours to fix, not WeChat's
        self.settings = settings
        self.base = settings.api_base.rstrip("/")
        self.timeout = timeout
        self.tokens = AccessTokens(store, settings.appid, self._fetch_token)

    # --- HTTP --------------------------------------------------------------------------------

    def _http(self, method, path, params=None, payload=None):
        from wechat.http import Unreachable, fetch

        data = json.dumps(payload, ensure_ascii=False).encode("utf-8") if payload is not None else None
        try:
            response = fetch(self.base + path, method, params, data, "application/json; charset=utf-8", self.timeout)
        except Unreachable as e:
            raise WeChatAPIError(-1, str(e))
        if not response.ok:
            raise WeChatAPIError(-response.status, "HTTP %d from %s" % (response.status, path))
        try:
            result = json.loads(response.body.decode("utf-8"))
        except ValueError:
            raise WeChatAPIError(-1, "answer from %s is not JSON" % path)
        if isinstance(result, dict) and result.get("errcode"):
            raise WeChatAPIError(result["errcode"], result.get("errmsg", ""))
        return result

    def _fetch_token(self):
        s = self.settings
        if s.token_endpoint == "stable_token":
            result = self._http("POST", "/cgi-bin/stable_token", payload={
                "grant_type": "client_credential", "appid": s.appid, "secret": s.appsecret})
        else:
            result = self._http("GET", "/cgi-bin/token", {
                "grant_type": "client_credential", "appid": s.appid, "secret": s.appsecret})
        if "access_token" not in result:
            raise WeChatAPIError(-1, "token answer without access_token")
        return result["access_token"], result.get("expires_in", 7200)

    def access_token(self):
        try:
            return self.tokens.get()
        except TokenTimeout as e:
            raise WeChatAPIError(-1, str(e))

    def call(self, method, path, params=None, payload=None):
        """One API call with the access token; on a token error, one refresh and one retry."""
        token = self.access_token()
        try:
            return self._http(method, path, dict(params or {}, access_token=token), payload)
        except WeChatAPIError as e:
            if e.errcode not in TOKEN_ERRORS:
                raise
            try:
                token = self.tokens.refresh(stale=token)
            except TokenTimeout as timeout:
                raise WeChatAPIError(-1, str(timeout))
            return self._http(method, path, dict(params or {}, access_token=token), payload)

    # --- the calls ---------------------------------------------------------------------------

    def menu_create(self, menu):
        return self.call("POST", "/cgi-bin/menu/create", payload=menu)

    def menu_get(self):
        return self.call("GET", "/cgi-bin/get_current_selfmenu_info")

    def menu_delete(self):
        return self.call("GET", "/cgi-bin/menu/delete")

    def send_text(self, openid, text):
        return self.call("POST", "/cgi-bin/message/custom/send",
                         payload={"touser": openid, "msgtype": "text", "text": {"content": text}})

    def send_news(self, openid, articles):
        """articles: [{'title', 'description', 'url', 'picurl'}]; WeChat shows one."""
        return self.call("POST", "/cgi-bin/message/custom/send",
                         payload={"touser": openid, "msgtype": "news", "news": {"articles": articles}})

    def send_reply(self, openid, reply):
        """Send what a skill answered (str or a passive Reply) as a customer-service message instead."""
        from wechat.replies import ImageReply, MusicReply, NewsReply, TextReply, VideoReply, VoiceReply

        if isinstance(reply, str):
            return self.send_text(openid, reply)
        if isinstance(reply, TextReply):
            return self.send_text(openid, reply.content)
        if isinstance(reply, NewsReply):
            # The customer-service API shows one article per news message.
            a = reply.articles[0]
            return self.send_news(openid, [{"title": a.title, "description": a.description, "url": a.url,
                                            "picurl": a.picture_url}])
        kinds = {ImageReply: ("image", lambda r: {"media_id": r.media_id}),
                 VoiceReply: ("voice", lambda r: {"media_id": r.media_id}),
                 VideoReply: ("video", lambda r: {"media_id": r.media_id, "title": r.title, "description": r.description}),
                 MusicReply: ("music", lambda r: {"title": r.title, "description": r.description, "musicurl": r.music_url,
                                                  "hqmusicurl": r.hq_music_url, "thumb_media_id": r.thumb_media_id})}
        if type(reply) not in kinds:
            raise WeChatAPIError(-1, "a %s cannot be sent as a customer-service message" % type(reply).__name__)
        kind, body = kinds[type(reply)]
        return self.call("POST", "/cgi-bin/message/custom/send", payload={"touser": openid, "msgtype": kind, kind: body(reply)})

    def user_info(self, openid, lang="zh_CN"):
        return self.call("GET", "/cgi-bin/user/info", {"openid": openid, "lang": lang})

    def send_template(self, openid, template_id, data, url=None):
        payload = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            payload["url"] = url
        return self.call("POST", "/cgi-bin/message/template/send", payload=payload)
