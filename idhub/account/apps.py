"""My apps (/account/apps): the sign-on apps this person may open, with a link to each.

How apps and roles meet: rules.toml gives roles application roles "<app>:<role>"
(`app_roles`, computed by provisioning.policy, in the `roles` claim). A sign-on client
whose `client_id` is such an `<app>` key is gated: it is listed only for people holding
one of its roles, shown beside it. Any other enabled sign-on client (authorization code
grant, a redirect URI) is open to every staff member who can sign in, as the hub's
/oauth/authorize lets them. The link goes to the app's home: its registered
`client_uri`, else the origin of its first redirect URI.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import SECTIONS, Section, bp, render_section, require_person
from idhub.db import get_db
from idhub.models import OAuthClient, Person
from idhub.oidc.claims import person_can_sign_in, person_claims
from idhub.oidc.i18n import t
from idhub.services import current_hub

SECTIONS.append(Section("account.apps", "account.nav.apps"))


@dataclass(frozen=True)
class App:
    client_id: str
    name: str
    home: str | None
    roles: tuple[str, ...]  # the person's roles in it ("approver", …); () if not gated


def home_of(client: OAuthClient) -> str | None:
    if client.client_uri:
        return client.client_uri
    for uri in client.redirect_uris or []:
        parts = urlsplit(uri)
        if parts.scheme in ("https", "http") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}/"
    return None


def gated_apps() -> set[str]:
    """Every `<app>` key the rules give roles in."""
    rules = current_hub().rules
    return {r.partition(":")[0] for role in rules.roles.values() for r in role.app_roles}


def my_apps(session: Session, person: Person) -> list[App]:
    if not person_can_sign_in(person):
        return []
    held: dict[str, list[str]] = {}
    for app_role in person_claims(session, person, {"roles"}).get("app_roles", ()):
        app, _, role = app_role.partition(":")
        held.setdefault(app, []).append(role)
    gated = gated_apps()
    found = []
    for client in session.scalars(
        select(OAuthClient).where(OAuthClient.disabled_at.is_(None)).order_by(OAuthClient.name)
    ):
        if "authorization_code" not in (client.grant_types or []) or not client.redirect_uris:
            continue
        if client.client_id in gated and client.client_id not in held:
            continue
        roles = tuple(sorted(held.get(client.client_id, ())))
        found.append(App(client.client_id, client.name, home_of(client), roles))
    return found


@bp.get("/apps")
def apps() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    session = get_db().session(write=False)
    try:
        person = session.get(Person, who.person.id)
        found = my_apps(session, person) if person is not None else []
    finally:
        session.close()
    return render_section("account_apps.html", title=t("account.title.apps"), apps=found)
