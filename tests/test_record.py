"""The value classes a skill builds its answers from (TextReply, Article ...): a mistake names the field."""

import pytest

from wechat.record import Record
from wechat.replies import Article, TextReply


def test_fields_by_position_or_name_with_defaults():
    assert Article("标题") == Article(title="标题", description="", picture_url="", url="")
    assert Article("标题", url="https://example.com/").url == "https://example.com/"
    assert repr(TextReply("你好")) == "TextReply(content='你好')"


def test_a_missing_field_an_unknown_one_and_too_many_are_each_named():
    with pytest.raises(TypeError, match="Article needs title"):
        Article(url="https://example.com/")
    with pytest.raises(TypeError, match="TextReply has no field text"):
        TextReply(text="你好")
    with pytest.raises(TypeError, match="TextReply takes at most 1 arguments"):
        TextReply("a", "b")


def test_a_subclass_that_sets_its_own_attribute_first_still_hears_of_a_missing_field():
    class Pair(Record):
        fields = ("a", "b")

        def __init__(self, *args, **kwargs):
            self.note = "set before the fields"
            super().__init__(*args, **kwargs)

    with pytest.raises(TypeError, match="Pair needs b"):
        Pair(1)
    assert Pair(1, 2).b == 2
