"""A tiny HTML tree for assertions about pages (no dependency for what the stdlib does).

page = parse(response)
page.by_id("api-key-secret").attrs["value"]
[box.attrs["value"] for box in page.find_all("input", name="permissions")]
"""

from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Element | None" = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def text(self) -> str:
        """The element's text with whitespace collapsed (entities decoded)."""
        parts = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return " ".join(" ".join(parts).split())

    def has(self, attr: str) -> bool:
        return attr in self.attrs

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def find_all(self, tag: str | None = None, *, class_: str | None = None, **attrs) -> list["Element"]:
        """Descendants by tag, CSS class and attribute values.

        `data_x=` means `data-x=`, `for_=` means `for=`; a value of True only
        asks for the attribute to be present.
        """
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        found = []
        for element in self.iter():
            if tag is not None and element.tag != tag:
                continue
            if class_ is not None and class_ not in element.classes():
                continue
            if any(
                name not in element.attrs if value is True else element.attrs.get(name) != value
                for name, value in wanted.items()
            ):
                continue
            found.append(element)
        return found

    def find(self, tag: str | None = None, **kwargs) -> "Element | None":
        found = self.find_all(tag, **kwargs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> "Element | None":
        return self.find(id=element_id)


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(response_or_text) -> Element:
    text = response_or_text
    if not isinstance(text, str):
        text = response_or_text.content.decode()
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
