"""/api/v1/people/{id}/activation-link and /access-reset: the HR API's doors to a person's
sign-in credentials.

They live with single sign-on because they issue credential links; the operations keep
the "people" tag they have always had in the OpenAPI document. An activation (a joiner's
first password and TOTP) is HR's (`hr:write`); resetting someone's access is its own
right (`access:reset`, a security officer), with a reason, audited, rate-limited. Neither
is wrapped in the Idempotency-Key replay: a link is never stored, only its keyed hash.
"""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.db import db_session
from idhub.errors import DomainError
from idhub.identity import people
from idhub.oidc.credentials import ACTIVATE, RESET, check_reset_rate, issue_action_link
from idhub.oidc.settings import SsoSettings
from idhub.oidc.state import oidc_state
from idhub.services import current_hub
from idhub.web.common import RESET_SCOPES, WRITE_SCOPES, actor, scoped
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "activation-links",
    __name__,
    url_prefix="/api/v1/people",
    description="One-time links where a person sets a password and enrols TOTP.",
)
blp.own_tag = False  # its operations are documented under "people"


class ResetNeedsItsOwnRight(DomainError):
    status = 403
    code = "access_reset_scope_required"


class ActionLinkRequestSchema(Schema):
    purpose = fields.String(load_default=ACTIVATE, validate=validate.OneOf([ACTIVATE, RESET]))


class AccessResetRequestSchema(Schema):
    reason = Text(
        required=True,
        max_length=500,
        metadata={"description": "Why (audited with who and whom): a ticket, a phone call."},
    )
    reset_second_factor = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also re-enrol TOTP (a lost phone). Without it the person proves "
            "the current code or a recovery code on the reset page."
        },
    )


class ActionLinkSchema(Schema):
    url = fields.String(
        metadata={"description": "One-time link (token in the fragment); for the person only."}
    )
    purpose = fields.String()
    expires_at = fields.DateTime()
    reset_second_factor = fields.Boolean()
    handover_code = fields.String(
        allow_none=True,
        metadata={
            "description": "A reset that re-enrols the second factor: a code for the officer "
            "to hand over in person (never sent to the person by mail or chat). The link's "
            "page enrols a new TOTP only after the person enters it or their password."
        },
    )


def _link(person_id: uuid.UUID, purpose: str, **options: object) -> dict:
    session = db_session()
    person = people.get_person(session, person_id)
    hub = current_hub()
    sso = hub.settings.section(SsoSettings)
    who = actor()
    if purpose == RESET:
        check_reset_rate(session, sso, who.id, person)
    link = issue_action_link(
        session,
        hub.keyring,
        hub.audit,
        who,
        person,
        purpose=purpose,
        ttl_s=sso.reset_link_ttl_s if purpose == RESET else sso.activation_link_ttl_s,
        **options,  # type: ignore[arg-type]
    )
    session.commit()
    return {
        "url": oidc_state().issuer + link.path,
        "purpose": purpose,
        "expires_at": link.expires_at,
        "reset_second_factor": purpose == ACTIVATE or bool(options.get("reset_second_factor")),
        "handover_code": link.handover_code,
    }


@blp.route("/<uuid:person_id>/activation-link", tags=["people"])
class PersonActivationLink(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @blp.arguments(ActionLinkRequestSchema)
    @blp.response(201, ActionLinkSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such person.")
    def post(self, data, person_id: uuid.UUID):
        """A one-time link (≤ 24 h) where a joiner sets a password and enrols TOTP.

        Earlier unused links of the same purpose stop working. A reset is not HR's:
        `POST /api/v1/people/{id}/access-reset` with `access:reset`.
        """
        if data["purpose"] == RESET:
            raise ResetNeedsItsOwnRight(
                "Resetting access is its own right: POST /api/v1/people/{id}/access-reset "
                "with the access:reset scope, and a reason."
            )
        return _link(person_id, ACTIVATE), 201


@blp.route("/<uuid:person_id>/access-reset", tags=["people"])
class PersonAccessReset(MethodView):
    @scoped(blp, RESET_SCOPES)
    @blp.arguments(AccessResetRequestSchema)
    @blp.response(201, ActionLinkSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such person.")
    @blp.alt_response(429, schema=ErrorSchema, description="Too many resets.")
    def post(self, data, person_id: uuid.UUID):
        """A one-time link (≤ 1 h) where the person sets a new password (security officer).

        The reason is audited with who asked and for whom; resets are rate-limited per
        client and per person. The second factor is kept (the person proves it on the
        page) unless `reset_second_factor` is true (a lost phone): then the answer carries
        a `handover_code` for the person, given in person, and the page asks for it or
        the person's password before a new TOTP is enrolled. The link is never stored, so an
        Idempotency-Key is not replayed here: a retry issues a new link.
        """
        return _link(
            person_id,
            RESET,
            reason=data["reason"],
            reset_second_factor=data["reset_second_factor"],
        ), 201
