"""Books (豆米查书): an ISBN-10/13, `书 <title>`, or `书` and then the title, answered with the book as a news reply."""

from handlers.skills.registry import on
from wechat.replies import Article, NewsReply

SERVICE_DOWN = "查书服务暂时连不上，请过一会儿再试。"
ASK_TITLE = "哪本书？请发书名（发“取消”作罢）。"


def book_reply(book):
    lines = ["作者：%s" % "、".join(book["authors"]) if book.get("authors") else "",
             "出版社：%s" % book["publisher"] if book.get("publisher") else "",
             "出版时间：%s" % book["year"] if book.get("year") else ""]
    description = "\n".join(line for line in lines if line)
    return NewsReply([Article(book["title"] or "(无题)", description, book.get("cover", ""), book.get("url", ""))])


def library(ctx):
    from handlers.skills.backends.books import OpenLibrary

    return OpenLibrary(ctx.settings.book_api_base, ctx.store)


def looks_like_isbn(message):
    # A cheap first look keeps the book module out of CGI processes answering other texts.
    text = message.content.strip()[:5].upper() if message.type == "text" else ""
    if not (text[:1].isdigit() or text.startswith("ISBN")):
        return False
    from handlers.skills.backends.books import isbn_digits

    return isbn_digits(message.content) is not None


@on.custom(looks_like_isbn, help="ISBN（10 或 13 位）— 查书", calls_out=True, kinds=["text"])
def book_by_isbn(message, ctx):
    from handlers.skills.backends.books import BookServiceError, check_digit, is_valid, isbn_digits

    digits = isbn_digits(message.content)
    if not is_valid(digits):
        return ("这个 ISBN 的校验位不对：%s 的最后一位应该是 %s。请对照书背面的条形码再发一次。"
                % (digits, check_digit(digits)))
    try:
        book = library(ctx).by_isbn(digits, timeout=ctx.call_timeout())
    except BookServiceError:
        return SERVICE_DOWN
    return book_reply(book) if book else "没有找到 ISBN %s 的书。换一本试试？" % digits


@on.regex(r"^(?:书|book)\s+(?P<title>\S.*)$", help="书 书名 — 按书名查书", calls_out=True)
def book_by_title(message, ctx):
    return find_title(ctx.match.group("title").strip(), ctx)


@on.text("书", "book", help="书 — 我先问书名，你再回答")
def ask_for_title(message, ctx):
    ctx.session.expect("book_title")
    return ASK_TITLE


@on.reply_to("book_title", calls_out=True)
def book_title_answer(message, ctx):
    title = message.content.strip()
    if not title:
        ctx.session.expect("book_title")
        return ASK_TITLE
    return find_title(title, ctx)


def find_title(title, ctx):
    from handlers.skills.backends.books import BookServiceError

    try:
        book = library(ctx).by_title(title, timeout=ctx.call_timeout())
    except BookServiceError:
        return SERVICE_DOWN
    return book_reply(book) if book else "没有找到书名是“%s”的书。" % title
