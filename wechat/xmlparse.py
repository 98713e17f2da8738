"""The hardened XML reader: minidom with no DTD or entities, turned into a dict of a body's fields."""

import re
from xml.dom import Node
from xml.dom.minidom import CDATASection, Document, Element, Text
from xml.parsers import expat
from xml.parsers.expat import ExpatError

# WeChat's deepest structure is xml > SendPicsInfo > PicList > item > PicMd5Sum; anything
# much deeper is an attack on the converter, not a message.
MAX_DEPTH = 8


class ParseError(ValueError):
    """The body is not a WeChat message; the text says why (it becomes the 400's reason)."""


def _refuse_doctype(*args):
    raise ParseError("DOCTYPE declarations are not allowed")


def _refuse_entity(*args):
    raise ParseError("entity declarations are not allowed")


def build_document(body):
    """A minidom Document of the body, built straight from expat's events.

    What minidom's expatbuilder would build for a message, minus what a message never has: a DTD is
    refused before expat can expand or fetch an entity, and comments, processing instructions and
    namespaces are not kept. expatbuilder runs every node through its filter and option checks; this
    only links nodes (a text message: 20 -> 15 us). CDATA sections stay nodes of their own: only they
    tell layout whitespace (`<A> <![CDATA[x]]> </A>`) from what a follower typed.
    """
    document = Document()
    open_elements = [document]
    # [inside a CDATA section, the text node the next chunk continues (expat may hand one text over in parts)]
    state = [False, None]

    def append(node):
        parent = open_elements[-1]
        node.ownerDocument = document
        node.parentNode = parent
        siblings = parent.childNodes
        if siblings:
            siblings[-1].nextSibling = node
            node.previousSibling = siblings[-1]
        siblings.append(node)

    def start(tag, attributes):
        if len(open_elements) > MAX_DEPTH:
            raise ParseError("elements nested too deeply")
        element = Element(tag)
        append(element)
        for name, value in attributes.items():
            element.setAttribute(name, value)
        open_elements.append(element)
        state[1] = None

    def end(tag):
        open_elements.pop()
        state[1] = None

    def text(data):
        node = state[1]
        if node is not None:
            node.data += data
            return
        node = CDATASection() if state[0] else Text()
        node.data = data
        append(node)
        state[1] = node

    def cdata_starts():
        state[0], state[1] = True, None

    def cdata_ends():
        state[0], state[1] = False, None

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartCdataSectionHandler = cdata_starts
    parser.EndCdataSectionHandler = cdata_ends
    parser.Parse(body, True)
    return document


def parse_xml(body):
    """Parse a WeChat XML body (bytes) into a dict of its fields.

    A leaf element becomes its text ("" when empty; whitespace around a CDATA section is dropped,
    anything else is kept as sent: messages.Field decides what to strip); an element with children
    becomes a dict; a tag repeated among siblings becomes a list. Raises ParseError on anything
    that is not a well-formed, DTD-free document rooted at <xml>.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body or not body.strip():
        raise ParseError("empty body")
    try:
        document = build_document(body)
    except ExpatError as e:
        raise ParseError("not well-formed XML (%s)" % e)
    except (ValueError, LookupError) as e:  # unknown encodings and the like
        if isinstance(e, ParseError):
            raise
        raise ParseError("unreadable XML (%s)" % e)
    try:
        root = document.documentElement
        if root.tagName != "xml":
            raise ParseError("root element is <%s>, not <xml>" % root.tagName[:40])
        fields = _element_value(root, 1)
    finally:
        _release(document)
    return fields if isinstance(fields, dict) else {}


def _release(document):
    """Break the tree's links to parents and siblings once its fields are read.

    A DOM is a web of reference cycles (parentNode, ownerDocument, the siblings), so without this
    every message's tree waits for the cyclic collector, and its ~30 objects a message trigger a
    collection every few dozen messages. Unlinked, reference counting frees it at once.
    """
    pending = [document]
    while pending:
        node = pending.pop()
        children = node.childNodes
        if children:
            pending.extend(children)
            del children[:]
        node.parentNode = node.ownerDocument = node.previousSibling = node.nextSibling = None
        if node.nodeType == ELEMENT:
            node._attrs = node._attrsNS = None  # an attribute's ownerElement is a cycle too


_SPACE = rb"[ \t\r\n]*"  # XML's whitespace, exactly
_ENVELOPE = {}  # its three patterns, compiled for the first encrypted message: a plain CGI request never pays ~0.25 ms


def _envelope_patterns():
    if not _ENVELOPE:
        _ENVELOPE["open"] = re.compile(_SPACE + rb"<xml>")
        _ENVELOPE["leaf"] = re.compile(
            _SPACE + rb"<([A-Za-z_][A-Za-z0-9_.-]*)>(?:<!\[CDATA\[([\x20-\x5c\x5e-\x7e\t\n]*)\]\]>"
            rb"|([\x20-\x25\x27-\x3b\x3d-\x5c\x5e-\x7e\t\n]*))</\1>")
        _ENVELOPE["close"] = re.compile(_SPACE + rb"</xml>" + _SPACE)
    return _ENVELOPE


def envelope_field(body, name):
    """The text of the top-level element `name` of a safe-mode envelope (<xml><Encrypt>...), or None.

    The same refusals as parse_xml (no DTD, no entities, root <xml>), but with no DOM: the envelope is
    read for one field, and the message inside it still goes through parse_xml.

    The envelope as WeChat sends it is read with regular expressions, in a third of expat's time
    inside a request: <xml>, then leaf elements each holding one CDATA section or plain text of
    printable ASCII (no "]", so no CDATA end; no "<" or "&" in text, so no markup and no entity; no CR,
    which XML would normalise), then </xml>. A body of that shape is well-formed, has no DTD and no
    entity, and expat would give each leaf exactly the text matched. Any other body goes through expat
    (_envelope_field_by_expat); tests compare the two.
    """
    if not body or not body.strip():
        raise ParseError("empty body")
    if type(body) is bytes:
        patterns = _envelope_patterns()
        opened = patterns["open"].match(body)
        if opened:
            wanted, found, at, leaves = name.encode("ascii", "replace"), [], opened.end(), patterns["leaf"]
            leaf = leaves.match(body, at)
            while leaf:
                if leaf.group(1) == wanted:
                    found.append(leaf.group(2) or leaf.group(3))
                at = leaf.end()
                leaf = leaves.match(body, at)
            if patterns["close"].fullmatch(body, at) and len(found) <= 1:  # several: expat joins them
                return found[0].decode("ascii") if found and found[0] else None
    return _envelope_field_by_expat(body, name)


def _envelope_field_by_expat(body, name):
    parser = expat.ParserCreate()
    parser.buffer_text = True
    depth, inside, found = [0], [False], []  # lists: the handlers below change them

    def start(tag, attributes):
        level = depth[0] = depth[0] + 1
        if level == 1 and tag != "xml":
            raise ParseError("root element is <%s>, not <xml>" % tag[:40])
        if level > MAX_DEPTH:
            raise ParseError("elements nested too deeply")
        inside[0] = level == 2 and tag == name

    def end(tag):
        depth[0] -= 1
        inside[0] = False

    def text(data):
        if inside[0]:
            found.append(data)

    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)
    except ExpatError as e:
        raise ParseError("not well-formed XML (%s)" % e)
    except (ValueError, LookupError) as e:
        if isinstance(e, ParseError):
            raise
        raise ParseError("unreadable XML (%s)" % e)
    return "".join(found) if found else None


TEXT, CDATA, ELEMENT = Node.TEXT_NODE, Node.CDATA_SECTION_NODE, Node.ELEMENT_NODE


def _element_value(node, depth):
    nodes = node.childNodes
    if len(nodes) == 1 and nodes[0].nodeType in (TEXT, CDATA):  # nearly every leaf: one CDATA or text node
        return nodes[0].data
    children = [c for c in nodes if c.nodeType == ELEMENT]
    if not children:
        return _leaf_text(nodes)
    if depth >= MAX_DEPTH:
        raise ParseError("elements nested too deeply")
    result = {}
    for child in children:
        value = _element_value(child, depth + 1)
        if child.tagName not in result:
            result[child.tagName] = value
        elif isinstance(result[child.tagName], list):
            result[child.tagName].append(value)
        else:
            result[child.tagName] = [result[child.tagName], value]
    return result


def _leaf_text(nodes):
    """A leaf's text. Beside a CDATA section, whitespace-only text is layout (`<A> <![CDATA[x]]> </A>` is
    "x"); inside CDATA every character counts, as the follower typed it."""
    if any(n.nodeType == CDATA for n in nodes):
        return "".join(n.data for n in nodes if n.nodeType == CDATA or n.nodeType == TEXT and n.data.strip())
    return "".join(n.data for n in nodes if n.nodeType == TEXT)
