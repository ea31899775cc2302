"""/api/v1/seats: seat mailboxes (hộp thư theo chức danh) and who reads them now."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.errors import NotFound
from idhub.identity.snapshots import UnitDirectory
from idhub.models import Seat
from idhub.web.common import current_scope, list_many, paginate, read_one

blp = Blueprint(
    "seats",
    __name__,
    url_prefix="/api/v1/seats",
    description="Seat mailboxes: the mailbox of a post, read by whoever holds it today.",
)


class SeatSchema(Schema):
    id = fields.UUID(metadata={"description": "The seat key (unit × position code)."})
    unit_id = fields.UUID()
    position_code = fields.String()
    uid = fields.String(metadata={"description": "Local part and directory uid, never reused."})
    address = fields.String(allow_none=True, metadata={"description": "Its address today."})
    shared_folder = fields.String(metadata={"description": "What a holder opens over IMAP."})
    holders = fields.List(
        fields.String(), metadata={"description": "Uids let in at the last converge."}
    )
    state = fields.String(metadata={"description": "pending | in_sync | failed"})
    enabled = fields.Boolean(allow_none=True)
    dn = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_converged_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class SeatQuerySchema(Schema):
    unit_id = fields.UUID(metadata={"description": "Only the seats of this unit."})


def _shown(seats: list[Seat]) -> list[dict]:
    units = UnitDirectory.load(db_session())
    out = []
    for seat in seats:
        domain = units.get(seat.unit_id).mail_domain
        out.append(
            {
                **{c: getattr(seat, c) for c in SeatSchema._declared_fields if hasattr(seat, c)},
                "address": f"{seat.uid}@{domain.strip().lower()}" if domain else None,
                "shared_folder": f"shared/{seat.uid}/INBOX",
                "holders": list(seat.holders or []),
            }
        )
    return out


@blp.route("")
class Seats(MethodView):
    @list_many(blp, SeatQuerySchema, SeatSchema(many=True), page_size=100)
    def get(self, args, pagination_parameters):
        """Every seat mailbox (they appear when a post listed in [seats] is first held)."""
        query = select(Seat).order_by(Seat.uid)
        query = visible.units(query, db_session(), current_scope(), Seat.unit_id)
        if args.get("unit_id"):
            query = query.where(Seat.unit_id == args["unit_id"])
        return _shown(paginate(query, pagination_parameters))


@blp.route("/<uuid:seat_id>")
class OneSeat(MethodView):
    @read_one(blp, SeatSchema, "seat")
    def get(self, seat_id: uuid.UUID):
        """One seat mailbox."""
        seat = db_session().get(Seat, seat_id)
        if seat is None:
            raise NotFound(f"No seat with id {seat_id}.", code="seat_not_found")
        return _shown([seat])[0]
