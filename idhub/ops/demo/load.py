"""`idhub demo load`: fill an empty HR database with one real province and synthetic staff.

Deterministic: the same seed (and the same `today`, which only caps dates at yesterday)
gives the same units, positions, people and assignments, UUIDs included. Runs inside the
caller's session and transaction; the caller commits. Every created row gets its
audit event, exactly as if an administrator had entered it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.context import snapshot
from idhub.changes.outbox import enqueue
from idhub.identity.cccd import century_and_sex
from idhub.models import (
    Assignment,
    AssignmentKind,
    OrgUnit,
    Person,
    PersonStatus,
    Position,
    ReservedIdentifier,
    UnitStatus,
    UnitType,
)
from idhub.ops.demo import names as nm
from idhub.ops.demo.province import (
    OLD_PROVINCE_CODES,
    REFORM_DATE,
    STAFF_POSITIONS,
    STAFF_WEIGHT,
    ProvinceDataMissing,
    ProvinceInfo,
    UnitSpec,
    build_positions,
    build_units,
    home_birth_codes,
    read_province,
)
from provisioning.naming import allocate_identifier, identifier_base, nfc, search_key

# Units and positions get name-based UUIDs: the same real unit has the same id in every load.
DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://idhub.invalid/demo")

DEMO_ACTOR = Actor("cli", "demo")
CONCURRENT_SHARE = 0.05
COLLISION_MIN_STAFF = 100  # from this many people on, at least 3 are called "Nguyễn Văn An"
COLLISION_COUNT = 3


class DemoError(Exception):
    """The demo data cannot be loaded."""


class DemoAlreadyLoaded(DemoError):
    """The database already holds organisation units; the demo only fills an empty one."""


class DemoUnavailable(DemoError):
    """The province data (optional `vietnam_provinces` package) or the province is missing."""


@dataclass(frozen=True)
class DemoSummary:
    province_code: int
    province_name: str  # "Lai Châu", "Thành phố Hà Nội"
    root_unit_name: str  # "Ủy ban nhân dân tỉnh Lai Châu"
    units: int
    communes: int
    positions: int
    people: int
    assignments: int  # primary + concurrent
    concurrent_assignments: int
    vacant_leader_posts: int  # leading posts left empty because `staff` was too small
    audit_events: int


@dataclass
class _Role:
    unit: UnitSpec
    position: str
    leader: bool


def load_demo(
    session: Session,
    audit: AuditLog,
    *,
    province_code: int = 12,
    staff: int = 3000,
    seed: int = 2025,
    today: dt.date | None = None,
    actor: Actor = DEMO_ACTOR,
) -> DemoSummary:
    """Load the demo organisation of `province_code` with `staff` synthetic people."""
    if staff < 0:
        raise ValueError("staff must not be negative")
    today = today or dt.date.today()
    if today <= REFORM_DATE:
        raise ValueError(f"today ({today}) must be after the reform date {REFORM_DATE}")
    try:
        province = read_province(province_code)
    except ProvinceDataMissing as e:
        raise DemoUnavailable(
            "the demo needs the optional 'vietnam_provinces' package (GPL-3.0, dev only): "
            "pip install -r requirements-dev.txt"
        ) from e
    except LookupError as e:
        raise DemoUnavailable(str(e)) from e
    if session.scalar(select(OrgUnit.id).limit(1)) is not None:
        raise DemoAlreadyLoaded(
            "the database already has organisation units; the demo only loads into an empty one"
        )

    master = random.Random(seed)
    # One stream per concern, so changing how e.g. e-mails are made keeps the UUIDs.
    rng_roles, rng_people, rng_ids, rng_dates = (
        random.Random(master.getrandbits(64)) for _ in range(4)
    )
    reason = f"demo load (seed {seed})"
    events = 0

    def record(kind: str, obj: Any, after: dict[str, Any]) -> None:
        nonlocal events
        audit.record(
            session,
            actor=actor,
            action=f"{kind}.create",
            object_type=kind,
            object_id=obj.id,
            after=after,
            reason=reason,
        )
        events += 1

    def persist(kind: str, objs: list[Any]) -> None:
        session.add_all(objs)
        for obj in objs:
            # The same HR fields as any other create event (no created_at, version, search_name).
            record(kind, obj, snapshot(obj))
        session.flush()

    # -- units --------------------------------------------------------------------------
    specs = build_units(province)
    unit_ids = {s.code: uuid.uuid5(DEMO_NAMESPACE, f"org_unit:{s.code}") for s in specs}
    units = [
        OrgUnit(
            id=unit_ids[s.code],
            code=s.code,
            name=s.name,
            short_name=s.short_name,
            search_name=search_key(" ".join(p for p in (s.name, s.short_name) if p)),
            type=s.type,
            parent_id=unit_ids[s.parent_code] if s.parent_code else None,
            mail_domain=s.mail_domain,
            valid_from=REFORM_DATE,
            valid_to=None,
            status=UnitStatus.ACTIVE,
        )
        for s in specs
    ]
    persist("org_unit", units)

    # -- positions ----------------------------------------------------------------------
    positions = [
        Position(
            id=uuid.uuid5(DEMO_NAMESPACE, f"position:{code}"),
            code=code,
            name=name,
            leadership_level=level,
        )
        for code, name, level in build_positions(province)
    ]
    persist("position", positions)
    position_ids = {p.code: p.id for p in positions}

    # -- who does what ------------------------------------------------------------------
    leader_slots = _leader_slots(rng_roles, specs)
    roles = [_Role(u, pos, True) for u, pos in leader_slots[:staff]]
    roles += _staff_roles(rng_roles, specs, staff - len(roles))

    # -- people -------------------------------------------------------------------------
    people = _make_people(rng_people, rng_ids, province, roles)
    taken: set[str] = set()
    for person in people:  # the same convention and collision numbering as any joiner
        base = identifier_base(person.family_name, person.middle_name, person.given_name)
        person.username = allocate_identifier(base, taken.__contains__)
        taken.add(person.username)
    persist("person", people)
    session.add_all(ReservedIdentifier(identifier=p.username, person_id=p.id) for p in people)

    # -- assignments --------------------------------------------------------------------
    last_day = today - dt.timedelta(days=1)
    assignments: list[Assignment] = []
    for person, role in zip(people, roles, strict=True):
        assignments.append(
            Assignment(
                id=_uuid4(rng_ids),
                person_id=person.id,
                unit_id=unit_ids[role.unit.code],
                position_id=position_ids[role.position],
                kind=AssignmentKind.PRIMARY,
                start_date=min(_start_date(rng_dates), last_day),
                end_date=None,
                decision_ref=_decision_ref(rng_dates, role.unit, role.leader),
            )
        )
    primaries = list(assignments)
    concurrent = 0
    for i, unit, position in _concurrent_posts(rng_roles, specs, roles):
        start = primaries[i].start_date + dt.timedelta(days=rng_dates.randrange(0, 120))
        assignments.append(
            Assignment(
                id=_uuid4(rng_ids),
                person_id=people[i].id,
                unit_id=unit_ids[unit.code],
                position_id=position_ids[position],
                kind=AssignmentKind.CONCURRENT,
                start_date=min(start, last_day),
                end_date=None,
                decision_ref=_decision_ref(rng_dates, unit, False),
            )
        )
        concurrent += 1
    persist("assignment", assignments)
    enqueue(session, [p.id for p in people], reason)

    return DemoSummary(
        province_code=province.code,
        province_name=province.name,
        root_unit_name=specs[0].name,
        units=len(units),
        communes=sum(1 for s in specs if s.type is UnitType.COMMUNE_COMMITTEE),
        positions=len(positions),
        people=len(people),
        assignments=len(assignments),
        concurrent_assignments=concurrent,
        vacant_leader_posts=max(0, len(leader_slots) - staff),
        audit_events=events,
    )


# ---------------------------------------------------------------------------------------
# Roles


def _leader_slots(rng: random.Random, specs: list[UnitSpec]) -> list[tuple[UnitSpec, str]]:
    """Leading posts, most important first (filled first when `staff` is small)."""
    by_type: dict[UnitType, list[UnitSpec]] = {}
    for s in specs:
        by_type.setdefault(s.type, []).append(s)
    root = by_type[UnitType.PROVINCE_COMMITTEE]
    depts = by_type.get(UnitType.DEPARTMENT, [])
    divisions = by_type.get(UnitType.DEPARTMENT_DIVISION, [])
    centres = by_type.get(UnitType.PUBLIC_SERVICE_UNIT, [])
    communes = by_type.get(UnitType.COMMUNE_COMMITTEE, [])

    def heads(units: Iterable[UnitSpec]) -> list[tuple[UnitSpec, str]]:
        return [(u, u.lead[0]) for u in units]

    def deputies(units: Iterable[UnitSpec], lo: int, hi: int) -> list[tuple[UnitSpec, str]]:
        return [(u, u.lead[1]) for u in units for _ in range(rng.randint(lo, hi))]

    return (
        heads(root)
        + heads(depts)
        + heads(communes)
        + deputies(root, 3, 4)
        + deputies(communes, 1, 2)
        + deputies(depts, 1, 3)
        + heads(divisions)
        + heads(centres)
        + deputies(divisions, 0, 1)
        + deputies(centres, 0, 1)
    )


def _staff_roles(rng: random.Random, specs: list[UnitSpec], n: int) -> list[_Role]:
    if n <= 0:
        return []
    weighted = [s for s in specs if STAFF_WEIGHT[s.type] > 0]
    weights = [STAFF_WEIGHT[s.type] for s in weighted]
    choosers = {
        t: ([code for code, _ in rows], [w for _, w in rows]) for t, rows in STAFF_POSITIONS.items()
    }
    roles = []
    for unit in rng.choices(weighted, weights=weights, k=n):
        codes, ws = choosers[unit.type]
        roles.append(_Role(unit, rng.choices(codes, weights=ws)[0], False))
    return roles


_COMMUNE_ONLY = {code for code, _ in STAFF_POSITIONS[UnitType.COMMUNE_COMMITTEE]} - {
    code for t, rows in STAFF_POSITIONS.items() if t is not UnitType.COMMUNE_COMMITTEE
    for code, _ in rows
}  # fmt: skip


def _concurrent_posts(
    rng: random.Random, specs: list[UnitSpec], roles: list[_Role]
) -> list[tuple[int, UnitSpec, str]]:
    """About 5 % of people also hold a post (kiêm nhiệm) in another unit of the same family:
    another division or centre of their department, or another commune."""
    families: dict[str, list[UnitSpec]] = {}
    for s in specs:
        if STAFF_WEIGHT[s.type] > 0:
            families.setdefault(s.family, []).append(s)
    eligible = [i for i, r in enumerate(roles) if not r.leader]
    target = min(len(eligible), round(len(roles) * CONCURRENT_SHARE))
    posts = []
    for i in sorted(rng.sample(eligible, target)):
        role = roles[i]
        others = [u for u in families.get(role.unit.family, []) if u.code != role.unit.code]
        if not others:
            others = [u for u in specs if u.code != role.unit.code and STAFF_WEIGHT[u.type] > 0]
        unit = rng.choice(others)
        position = role.position
        if unit.type is not UnitType.COMMUNE_COMMITTEE and position in _COMMUNE_ONLY:
            position = "CHUYEN_VIEN"
        posts.append((i, unit, position))
    return posts


# ---------------------------------------------------------------------------------------
# People


def _uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _make_people(
    rng: random.Random, rng_ids: random.Random, province: ProvinceInfo, roles: list[_Role]
) -> list[Person]:
    n = len(roles)
    forced = set(rng.sample(range(n), COLLISION_COUNT)) if n >= COLLISION_MIN_STAFF else set()
    home = home_birth_codes(province.code)
    national_ids: set[str] = set()
    csc_numbers = rng.sample(range(1, 1_000_000), n)
    people = []
    for i, role in enumerate(roles):
        if i in forced:
            gender, name = nm.MALE, nm.DEMO_COLLISION_NAME
        else:
            male_share = 0.72 if role.leader else 0.45
            gender = nm.MALE if rng.random() < male_share else nm.FEMALE
            name = nm.random_name(rng, gender)
        first_year = 1966
        last_year = 1985 if role.leader else 2001
        year = rng.randint(first_year, last_year)
        dob = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
        birth_code = rng.choice(home) if rng.random() < 0.85 else rng.choice(OLD_PROVINCE_CODES)
        national_id = _cccd(rng, birth_code, gender, dob.year, national_ids)
        has_code = rng.random() < 0.93  # contract staff (hợp đồng) have no civil servant code
        full = nfc(name.full)
        people.append(
            Person(
                id=_uuid4(rng_ids),
                national_id=national_id,
                civil_servant_code=f"{province.code2}{csc_numbers[i]:06d}" if has_code else None,
                family_name=nfc(name.family),
                middle_name=nfc(name.middle),
                given_name=nfc(name.given),
                search_name=search_key(full),
                date_of_birth=dob,
                personal_email=nm.personal_email(rng, name, dob.year),
                personal_phone=nm.personal_phone(rng),
                status=PersonStatus.ACTIVE,
            )
        )
    return people


def _cccd(rng: random.Random, birth_code: int, gender: str, year: int, seen: set[str]) -> str:
    """Citizen ID: birth province (3) + century/gender (1) + year (2) + 6 random digits."""
    digit = century_and_sex(year, female=gender != nm.MALE)
    prefix = f"{birth_code:03d}{digit}{year % 100:02d}"
    while True:
        value = prefix + f"{rng.randrange(1_000_000):06d}"
        if value not in seen:
            seen.add(value)
            return value


# ---------------------------------------------------------------------------------------
# Dates and decisions


def _start_date(rng: random.Random) -> dt.date:
    """Most posts were filled by the reorganisation decisions on 1 July 2025; the rest later."""
    if rng.random() < 0.8:
        return REFORM_DATE
    return REFORM_DATE + dt.timedelta(days=rng.randrange(1, 180))


def _decision_ref(rng: random.Random, unit: UnitSpec, leader: bool) -> str:
    """Leaders of departments are appointed by the province committee; staff by their agency."""
    issuer = "UBND" if leader else unit.decision_issuer
    return f"{rng.randint(1, 2400)}/QĐ-{issuer}"
