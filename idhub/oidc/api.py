"""/api/v1/people/{id}/activation-link: the HR API's door to a person's sign-in credentials.

It lives with single sign-on because it issues a credential link; the operation keeps the
"people" tag it has always had in the OpenAPI document.
"""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.db import db_session
from idhub.identity import people
from idhub.oidc.credentials import issue_action_link
from idhub.oidc.settings import SsoSettings
from idhub.oidc.state import oidc_state
from idhub.services import current_hub
from idhub.web.common import WRITE_SCOPES, actor, scoped
from idhub.web.schemas import ErrorSchema

blp = Blueprint(
    "activation-links",
    __name__,
    url_prefix="/api/v1/people",
    description="One-time links where a person sets a password and enrols TOTP.",
)
blp.own_tag = False  # its one operation is documented under "people"


class ActionLinkRequestSchema(Schema):
    purpose = fields.String(load_default="activate", validate=validate.OneOf(["activate", "reset"]))


class ActionLinkSchema(Schema):
    url = fields.String(metadata={"description": "One-time link; give it to the person only."})
    purpose = fields.String()
    expires_at = fields.DateTime()


@blp.route("/<uuid:person_id>/activation-link", tags=["people"])
class PersonActivationLink(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @blp.arguments(ActionLinkRequestSchema)
    @blp.response(201, ActionLinkSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such person.")
    def post(self, data, person_id: uuid.UUID):
        """A one-time link where the person sets a password and enrols TOTP (or resets them).

        Earlier unused links of the same purpose stop working. No Idempotency-Key replay:
        the link is never stored, only its keyed hash.
        """
        session = db_session()
        person = people.get_person(session, person_id)
        hub = current_hub()
        link = issue_action_link(
            session,
            hub.keyring,
            hub.audit,
            actor(),
            person,
            purpose=data["purpose"],
            ttl_s=hub.settings.section(SsoSettings).action_link_ttl_s,
        )
        session.commit()
        issuer = oidc_state().issuer
        return {
            "url": issuer + link.path,
            "purpose": data["purpose"],
            "expires_at": link.expires_at,
        }
