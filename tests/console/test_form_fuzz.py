"""Every POST form the crawler meets, submitted the way a fuzzer would: without its CSRF
token (400, nothing written), then with hostile values in one field at a time (never a
500; an error or a clean outcome; nothing written unless the form went through; what is
echoed is escaped), and a commune officer's forms aimed at another commune's person (404,
nothing written)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pytest
import requests
from sqlalchemy import func, select

from idhub.models import AuditEvent
from tests.console.communes import two_communes
from tests.console.crawl import UUID, Form, crawl
from tests.console.grants import grant
from tests.console.ops import csrf, merge_form, province_tree
from tests.fixtures.factories import national_id
from tests.fixtures.provisioning import drain

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    "",
    "x" * 10_000,
    "a\x01\x07\x1b[31mb\r\nc",
    "a\x00b",
    SCRIPT,
    "=cmd|' /C calc'!A0",
    "*)(uid=*))(|(uid=*",
    "' OR 1=1; DROP TABLE person; --",
    unicodedata.normalize("NFD", "Nguyễn Thị Hồng Nhung"),
    "-1",
    "99999999999999999999999",
    "31/02/2026",
    "2026-02-31",
]
OK = {200, 303, 400, 403, 404, 409, 413, 422}
# Refused by every text field of the API (too long, control characters, NUL): the console
# must not accept what /api/v1 would not, nor shorten it silently.
REFUSED = {HOSTILE[1], HOSTILE[2], HOSTILE[3]}
ENGLISH = re.compile(
    r"At most \d+ characters|Length must be|Must be one of|Not a valid|letters, digits"
)


def typed(form: Form, name: str) -> bool:
    """A field a person types text into (not a choice, a file or the form's step)."""
    return form.kinds.get(name) in ("text", "textarea", "date", "email")


def _baseline(form: Form) -> dict[str, str]:
    """The form's fields filled with values that pass, so the one hostile field is what
    the server meets (an all-empty form stops at the first required field)."""
    today = dt.date.today().isoformat()
    good = {
        "family_name": "Phạm",
        "middle_name": "Quang",
        "given_name": "Huy",
        "national_id": national_id("1992-09-15"),
        "date_of_birth": "1992-09-15",
        "civil_servant_code": "",
        "personal_email": "huy@example.vn",
        "unit_code": "XA.AN",
        "position_code": "CONG_CHUC",
        "start_date": today,
        "end_date": today,
        "decision_ref": "QĐ 12/2026",
        "reason": "Thử nghiệm",
    }
    if form.action.endswith("/posts/new"):
        good["unit_code"] = "TINHX"  # a post the person does not hold yet
    if form.action.endswith("/changesets/new"):
        good.update({k: v for k, v in merge_form("").items() if k != "csrf_token"})
    filled = {**form.fields, **{k: v for k, v in good.items() if k in form.fields}}
    # a file is sent only when it is the field being fuzzed (an empty one is an error)
    return {k: v for k, v in filled.items() if form.kinds.get(k) != "file"}


def _audit(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _post(
    session: requests.Session, hub: str, form: Form, data: dict[str, str]
) -> requests.Response:
    files = {
        name: (
            "bang.xlsx",
            data.pop(name).encode("utf-8", "surrogatepass"),
            "application/octet-stream",
        )
        for name in [n for n, kind in form.kinds.items() if kind == "file" and n in data]
    }
    return session.post(hub + form.action, data=data, files=files or None, allow_redirects=False)


def _signed_in(response: requests.Response) -> None:
    assert "/sso/login" not in response.headers.get("Location", ""), "the fuzz signed itself out"


@pytest.fixture
def admin_forms(app, api, hub, person, browser) -> tuple[dict, list[Form]]:
    communes = two_communes(app, api, person)
    grant(app, person["id"], "province_admin")
    province_tree(api)
    page = browser.get(hub + "/admin/changesets/new")
    made = browser.post(
        hub + "/admin/changesets/new", data=merge_form(csrf(page.text)), allow_redirects=False
    )
    assert made.status_code == 303, made.text
    drain(app)
    found = crawl(browser, hub, "vi")
    # one form per route (a person's forms are alike for every person), and never one's
    # own sessions: ending them would end the fuzz
    routes: dict[str, Form] = {}
    for (method, path), form in sorted(found.forms.items()):
        if method == "post" and person["id"] not in path:
            routes.setdefault(UUID.sub("<id>", path), form)
    # what ends a person's posts (leave) comes last, so the post forms meet a live post
    forms = sorted(routes.values(), key=lambda f: f.action.endswith(("/leave", "/sessions/end")))
    assert len(forms) >= 12, list(routes)
    return {"cuc": communes.cuc["id"], "b": communes.b["id"]}, forms


def test_without_csrf_every_form_is_refused_and_writes_nothing(app, hub, browser, admin_forms):
    _, forms = admin_forms
    for form in forms:
        before = _audit(app)
        data = {k: v for k, v in form.fields.items() if k != "csrf_token"}
        response = _post(browser, hub, form, data)
        assert response.status_code == 400, (form.action, response.status_code)
        assert _audit(app) == before, form.action
        wrong = _post(browser, hub, form, {**data, "csrf_token": "x" * 40})
        assert wrong.status_code == 400, (form.action, wrong.status_code)
        assert _audit(app) == before, form.action


def test_hostile_values_never_break_a_form(app, hub, browser, admin_forms):
    other, forms = admin_forms
    failures = []
    for form, step in [(f, s) for f in forms for s in ("preview", "confirm")]:
        token = csrf(browser.get(hub + form.page).text)
        base = {**_baseline(form), "csrf_token": token}
        if "step" in base:
            base["step"] = step
        elif step == "confirm":
            continue
        for name in [n for n in form.kinds if n != "csrf_token"]:
            for value in [*HOSTILE, other["cuc"], other["b"]]:
                before = _audit(app)
                data = {**base, name: value}
                if "national_id" in data and name != "national_id":
                    data["national_id"] = national_id("1992-09-15")  # a new person each time
                response = _post(browser, hub, form, data)
                _signed_in(response)
                where = f"{form.action} {name}={value[:40]!r}"
                if response.status_code not in OK:
                    failures.append(f"{where}: HTTP {response.status_code}")
                    continue
                if SCRIPT in response.text:
                    failures.append(f"{where}: <script> echoed unescaped")
                if "{&#39;" in response.text or "[&#39;" in response.text:
                    failures.append(f"{where}: a Python dict or list shown as the error")
                if ENGLISH.search(response.text):  # the crawl set Vietnamese
                    failures.append(f"{where}: a schema's English message on the page")
                used = bool(base.get(name))  # a column the operation ignores is not read
                if response.status_code == 303 and value in REFUSED and used and typed(form, name):
                    failures.append(f"{where}: accepted (the API refuses it)")
                if response.status_code != 303 and _audit(app) != before:
                    failures.append(f"{where}: HTTP {response.status_code} but audit written")
    assert failures == [], "\n".join(failures[:60])


def test_an_officers_forms_aimed_at_another_commune_are_404(app, api, hub, person, browser):
    communes = two_communes(app, api, person)
    drain(app)
    found = crawl(browser, hub, "vi")
    mine = communes.binh["id"]
    aimed = [f for (m, _), f in found.forms.items() if m == "post" and mine in f.action]
    assert aimed, [f.action for f in found.forms.values()]
    for form in aimed:
        token = csrf(browser.get(hub + form.page).text)
        action = form.action.replace(mine, communes.cuc["id"])
        if re.search(r"/posts/" + UUID.pattern, action):  # B's post is not A's post id
            continue
        before = _audit(app)
        data = {**form.fields, "csrf_token": token, "reason": "thử", "step": "confirm"}
        response = browser.post(hub + action, data=data, allow_redirects=False)
        assert response.status_code == 404, (action, response.status_code)
        assert "Lê Thị Cúc" not in response.text
        assert _audit(app) == before, action


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.csv", "a\x00b.csv", "x" * 300 + ".csv", "<script>.csv", "\u202e.csv"]
)
def test_an_uploads_file_name_is_kept_safely(app, api, hub, person, browser, name):
    two_communes(app, api, person)
    page = browser.get(hub + "/admin/imports?lang=vi")
    sheet = "Họ,Tên đệm,Tên\r\nLò,Văn,Mai\r\n".encode()
    response = browser.post(
        hub + "/admin/imports",
        data={"csrf_token": csrf(page.text)},
        files={"file": (name, sheet, "text/csv")},
        allow_redirects=False,
    )
    assert response.status_code in (303, 422), response.text[:500]
    if response.status_code == 303:
        preview = browser.get(hub + response.headers["Location"])
        assert preview.status_code == 200
        assert SCRIPT not in preview.text and "<script>.csv" not in preview.text


def test_hostile_values_in_every_search_and_filter(app, api, hub, person, browser):
    """The GET forms (search, filters, paging) with the same values: never a 500, the
    value echoed escaped, and another commune's ids find nothing for its officer."""
    communes = two_communes(app, api, person)
    drain(app)
    found = crawl(browser, hub, "vi")
    forms = [f for (method, _), f in sorted(found.forms.items()) if method == "get"]
    assert forms, list(found.forms)
    failures = []
    for form in forms:
        names = [n for n, kind in form.kinds.items() if kind != "button"] + ["page"]
        for name in names:
            for value in [*HOSTILE, communes.cuc["id"], communes.b["id"], "2" * 30]:
                params = {**form.fields, name: value}
                response = browser.get(hub + form.action.split("?")[0], params=params)
                where = f"{form.action} {name}={value[:40]!r}"
                if response.status_code >= 500:
                    failures.append(f"{where}: HTTP {response.status_code}")
                elif SCRIPT in response.text:
                    failures.append(f"{where}: <script> echoed unescaped")
                elif "Lê Thị Cúc" in response.text:
                    failures.append(f"{where}: another commune's person shown")
    assert failures == [], "\n".join(failures[:60])
