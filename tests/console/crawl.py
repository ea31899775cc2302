"""A bounded crawler of the console: from /admin, every same-origin link under /admin,
each page checked the way a careful reviewer would (status, headers, raw message keys,
"None" shown for a missing value, CSRF on POST forms, labels, the page's language), and
every form it meets remembered for the fuzz tests."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import lxml.html
import requests

MAX_PAGES = 300
# Never followed: signing out ends the crawl's session; downloads are not pages.
SKIP = re.compile(r"(/logout|/oauth/logout|\.csv$|\.xlsx$|\.jsonl$|/template\.)")
# A message key shown as-is: `console.person.title`, `import.error.cccd`.
RAW_KEY = re.compile(
    r"\b(?:console|import|imports|changeset|changes|jobs|audit|error|sso|account|admin|national)"
    r"\.[a-z_]+(?:\.[a-z_0-9]+)*\b"
)
MISSING = re.compile(r"\b(?:None|undefined|null|NaN)\b")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LABELLED = ("hidden", "submit", "button", "reset", "image")


@dataclass
class Form:
    page: str  # where it was found
    action: str  # absolute path (+ query)
    method: str
    fields: dict[str, str]  # name -> default value (first seen)
    kinds: dict[str, str]  # name -> input type / "select" / "textarea"


@dataclass
class Crawl:
    pages: dict[str, int] = field(default_factory=dict)  # url -> status
    problems: list[str] = field(default_factory=list)
    forms: dict[tuple[str, str], Form] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)  # every /admin link seen (path + query)


def _normal(base: str, href: str, origin: str) -> str | None:
    """A same-origin link under /admin, without its fragment and `lang` (the crawl holds
    one language), or None."""
    if href.startswith(("mailto:", "tel:", "javascript:", "data:")):
        return None
    url = urlsplit(urljoin(base, href))
    if f"{url.scheme}://{url.netloc}" != origin or not url.path.startswith("/admin"):
        return None
    query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "lang"]
    return url.path + ("?" + urlencode(query) if query else "")


def _text(doc: lxml.html.HtmlElement) -> str:
    """What a reader sees as prose: not scripts, nor machine values shown as they are
    stored (`class="mono"`: DNs, JSON of an audit event's diff, request ids)."""
    for bad in doc.xpath("//script|//style|//*[contains(concat(' ', @class, ' '), ' mono ')]"):
        bad.drop_tree()
    return " ".join(doc.text_content().split())


def _check_page(url: str, lang: str, response: requests.Response, crawl: Crawl) -> None:
    problems = crawl.problems
    headers = response.headers
    if headers.get("Cache-Control") != "no-store":
        problems.append(f"{url}: Cache-Control {headers.get('Cache-Control')!r}")
    if "Content-Security-Policy" not in headers:
        problems.append(f"{url}: no Content-Security-Policy")
    if "text/html" not in headers.get("Content-Type", ""):
        return
    doc = lxml.html.fromstring(response.text)
    if doc.get("lang") != lang:
        problems.append(f"{url}: <html lang={doc.get('lang')!r}>, expected {lang}")
    labelled = {el.get("for") for el in doc.xpath("//label[@for]")}
    for form in doc.xpath("//form"):
        method = (form.get("method") or "get").lower()
        if method == "post" and not form.xpath(".//input[@name='csrf_token']"):
            problems.append(f"{url}: POST form to {form.get('action')!r} has no csrf_token")
        for el in form.xpath(".//input|.//select|.//textarea"):
            kind = el.get("type", "text").lower() if el.tag == "input" else el.tag
            if kind in LABELLED:
                continue
            if not (
                (el.get("id") and el.get("id") in labelled)
                or el.xpath("ancestor::label")
                or el.get("aria-label")
                or el.get("aria-labelledby")
                or el.get("title")
            ):
                problems.append(f"{url}: <{el.tag} name={el.get('name')!r}> has no label")
    for el in doc.xpath("//input|//select|//textarea"):
        if not el.xpath("ancestor::form"):
            problems.append(f"{url}: <{el.tag} name={el.get('name')!r}> outside a form")
    text = _text(lxml.html.fromstring(response.text))
    for found in sorted(set(RAW_KEY.findall(text))):
        problems.append(f"{url}: raw message key {found!r}")
    for found in sorted(set(MISSING.findall(text))):
        at = text.find(found)
        problems.append(f"{url}: {found!r} shown: …{text[max(0, at - 60) : at + 20]}…")


def _forms(url: str, response: requests.Response, origin: str, crawl: Crawl) -> None:
    if "text/html" not in response.headers.get("Content-Type", ""):
        return
    doc = lxml.html.fromstring(response.text)
    for form in doc.xpath("//form"):
        method = (form.get("method") or "get").lower()
        target = urlsplit(urljoin(origin + url, form.get("action") or url))
        action = target.path + ("?" + target.query if target.query else "")
        fields: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for el in form.xpath(".//input|.//select|.//textarea"):
            name = el.get("name")
            if not name or name in fields:
                continue
            kind = el.get("type", "text").lower() if el.tag == "input" else el.tag
            if kind in ("submit", "button", "reset", "image"):
                # a named button is a choice the server reads (confirm, check...)
                fields[name], kinds[name] = el.get("value", ""), "button"
                continue
            if kind in ("checkbox", "radio") and el.get("checked") is None:
                fields.setdefault(name, ""), kinds.setdefault(name, kind)
                continue
            if el.tag == "select":
                options = el.xpath(".//option")
                picked = [o for o in options if o.get("selected") is not None] or options[:1]
                fields[name] = picked[0].get("value", picked[0].text_content()) if picked else ""
            elif el.tag == "textarea":
                fields[name] = el.text_content()
            else:
                fields[name] = el.get("value", "")
            kinds[name] = kind
        crawl.forms.setdefault((method, target.path), Form(url, action, method, fields, kinds))


def crawl(session: requests.Session, hub: str, lang: str, limit: int = MAX_PAGES) -> Crawl:
    """Every page under /admin reachable from /admin by links, in `lang`, checked."""
    origin = f"{urlsplit(hub).scheme}://{urlsplit(hub).netloc}"
    session.get(hub + f"/admin?lang={lang}")  # the language cookie
    found = Crawl()
    queue: deque[str] = deque(["/admin"])
    seen = {"/admin"}
    while queue and len(found.pages) < limit:
        url = queue.popleft()
        response = session.get(origin + url, allow_redirects=False)
        found.pages[url] = response.status_code
        if response.status_code >= 500:
            found.problems.append(f"{url}: HTTP {response.status_code}")
            continue
        if response.status_code in (301, 302, 303, 307, 308):
            target = _normal(origin + url, response.headers.get("Location", ""), origin)
            if target and target not in seen:
                seen.add(target)
                queue.append(target)
            continue
        if response.status_code != 200:
            found.problems.append(f"{url}: HTTP {response.status_code} from a link")
        _check_page(url, lang, response, found)
        _forms(url, response, origin, found)
        if "text/html" not in response.headers.get("Content-Type", ""):
            continue
        for href in lxml.html.fromstring(response.text).xpath("//a/@href"):
            target = _normal(origin + url, href, origin)
            if target is None:
                continue
            found.links.add(target)
            if SKIP.search(urlsplit(target).path) or target in seen:
                continue
            seen.add(target)
            queue.append(target)
    return found
