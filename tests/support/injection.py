"""What an output may hold when answers are hostile: cells a spreadsheet would not run, the report's own markup
only, a notice's own headers only."""

from __future__ import annotations

from html.parser import HTMLParser

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr", "th", "td"}
REPORT_TAGS |= {"svg", "text", "rect", "main", "caption", "thead", "tbody"}
REPORT_ATTRIBUTES = {"lang", "charset", "class", "xmlns", "width", "height", "role", "x", "y", "fill"}
REPORT_ATTRIBUTES |= {"name", "content", "id", "scope", "aria-label"}
MESSAGE_HEADERS = {"from", "to", "cc", "reply-to", "subject", "message-id", "mime-version", "content-type"}


class ReportParser(HTMLParser):
    """The tags, attributes and table cells (as text) of a report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data
