"""A province of two communes, clients limited to one, and person tokens, for the
delegated-administration tests."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from idhub.changes.chain import Actor
from idhub.models import OAuthClient, OAuthToken, utcnow
from idhub.oidc.clients import create_client
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit

ALL_SCOPES = ["hr:read", "hr:write", "audit:read", "admin", "access:reset", "apps"]


@dataclass
class Province:
    root: dict
    a: dict  # commune A
    a1: dict  # a unit below A
    b: dict  # commune B
    clerk: dict  # a position
    hr_post: dict  # the commune's personnel officer (CONG_CHUC_VP_TK: hr_officer by rule)
    in_a: dict
    in_a1: dict
    in_b: dict
    post_a: dict
    post_b: dict


def province(api: Api) -> Province:
    root = make_unit(
        api, code="12", name="Ủy ban nhân dân tỉnh Lai Châu", type="province_committee"
    )
    a = make_unit(api, code="XA.TAMDUONG", name="UBND xã Tam Đường", parent_id=root["id"])
    a1 = make_unit(
        api, code="XA.TAMDUONG.VP", name="Văn phòng xã Tam Đường", type="other", parent_id=a["id"]
    )
    b = make_unit(api, code="XA.SINHO", name="UBND xã Sìn Hồ", parent_id=root["id"])
    clerk = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    hr_post = make_position(api, code="CONG_CHUC_VP_TK", name="Công chức Văn phòng – Thống kê")
    in_a = make_person(api, family_name="Lò", middle_name="Văn", given_name="Pằn")
    in_a1 = make_person(api, family_name="Tòng", middle_name="Thị", given_name="Xuân")
    in_b = make_person(api, family_name="Giàng", middle_name="A", given_name="Páo")
    post_a = make_assignment(api, in_a, a, clerk)
    make_assignment(api, in_a1, a1, clerk)
    post_b = make_assignment(api, in_b, b, clerk)
    return Province(root, a, a1, b, clerk, hr_post, in_a, in_a1, in_b, post_a, post_b)


def subtree_client(app, client, unit_id: str, scopes: list[str] = ALL_SCOPES) -> Api:
    """An API client limited to a unit's subtree (as `idhub client create --subtree`)."""
    registered = register_client(app, scopes, name=f"HR system of {unit_id}")
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == registered.client_id)
            .values(subtree_unit_id=uuid.UUID(unit_id))
        )
    return Api(client, token_for(client, registered))


def person_api(app, client, person_id: str, scopes: list[str] = ALL_SCOPES) -> Api:
    """A token issued to a person through a sign-on app holding `scopes` (as the code flow
    would store it; the sign-in itself is tested in tests/oidc)."""
    hub = app.extensions["idhub"]
    token = secrets.token_urlsafe(32)
    with hub.db.transaction() as session:
        new = create_client(
            session,
            hub.keyring,
            hub.audit,
            Actor("cli", "pytest"),
            name="Quản lý cán bộ",
            scopes=["openid", *scopes],
            allowed_scopes=["openid", *ALL_SCOPES],
            grant_types=["authorization_code"],
            redirect_uris=["http://127.0.0.1:9/cb"],
        )
        session.add(
            OAuthToken(
                client_id=new.client_id,
                access_token_hash=hub.keyring.token_hash(token),
                scope=" ".join(["openid", *scopes]),
                expires_at=utcnow() + dt.timedelta(hours=1),
                person_id=uuid.UUID(person_id),
            )
        )
    return Api(client, token)


def ids(listing: Any) -> set[str]:
    return {row["id"] for row in listing}
