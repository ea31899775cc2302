"""`idhub demo reform`: the real 2025 reform of one province, as a change set, end to end.

The pre-2025 tree of one real province (province, districts, communes) and its staff are
loaded; the directory converges; the change set of the reform is built from the official
conversion table that the ``vietnam_provinces`` package ships (districts abolished,
communes merged, partly merged communes split); it is previewed, applied and converged;
then every account is checked. The package (GPL-3.0, demo only) is imported lazily.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import AccountKey
from idhub.changes.context import HrContext
from idhub.engine.worker import Worker
from idhub.identity import bulk
from idhub.models import Assignment, AssignmentKind, OrgUnit, Position, UnitStatus, UnitType
from idhub.ops.demo import names as nm
from idhub.ops.demo.province import ProvinceDataMissing

REFORM_DATE = dt.date(2025, 7, 1)
BEFORE = dt.date(2021, 6, 1)  # when the pre-reform staff took their posts
DECISION = {
    "decision_number": "1670/NQ-UBTVQH15",  # the resolutions of June 2025 (one per province)
    "decision_date": "2025-06-16",
    "decision_issuer": "Ủy ban Thường vụ Quốc hội",
    "effective_date": REFORM_DATE.isoformat(),
}
POSITIONS = (
    ("CT_UBND_TINH", "Chủ tịch Ủy ban nhân dân tỉnh", 8),
    ("CT_UBND_HUYEN", "Chủ tịch Ủy ban nhân dân huyện", 5),
    ("CT_UBND_XA", "Chủ tịch Ủy ban nhân dân xã", 4),
    ("PCT_UBND_XA", "Phó Chủ tịch Ủy ban nhân dân xã", 3),
    ("CONG_CHUC_VP_TK", "Công chức Văn phòng – Thống kê", 0),
    ("CONG_CHUC_TC_KT", "Công chức Tài chính – Kế toán", 0),
    ("CHUYEN_VIEN", "Chuyên viên", 0),
)
COMMUNE_STAFF = ("CONG_CHUC_VP_TK", "CONG_CHUC_TC_KT", "CHUYEN_VIEN")


@dataclass(frozen=True)
class LegacyProvince:
    """One pre-2025 province with its districts and communes, and where each commune went."""

    code: int
    name: str  # "Tỉnh Lai Châu"
    mail_domain: str
    districts: tuple[tuple[int, str], ...]  # (code, "Huyện Tam Đường")
    communes: tuple[tuple[int, str, int], ...]  # (code, "Xã Bình Lư", district code)
    went_to: dict[int, tuple[int, ...]]  # old commune → new commune codes
    new_names: dict[int, str]  # new commune code → "Xã Bình Lư"
    new_province: tuple[int, str]  # (code, name) of the province after the reform


def read_legacy(code: int) -> LegacyProvince:
    try:
        from vietnam_provinces import Province, ProvinceCode, Ward, WardCode
        from vietnam_provinces._ward_conversion_2025 import OLD_TO_NEW
        from vietnam_provinces.legacy import District
        from vietnam_provinces.legacy import Province as OldProvince
        from vietnam_provinces.legacy import Ward as OldWard
        from vietnam_provinces.legacy.codes import ProvinceCode as OldProvinceCode
    except ImportError as exc:
        raise ProvinceDataMissing(str(exc)) from exc
    try:
        old = OldProvince.from_code(OldProvinceCode(code))
    except (ValueError, KeyError) as exc:
        raise LookupError(f"no pre-2025 province with code {code}") from exc
    districts = tuple(
        (int(d.code), d.name) for d in District.iter_by_province(OldProvinceCode(code))
    )
    communes, went_to = [], {}
    for ward in OldWard.iter_by_province(OldProvinceCode(code)):
        entry = OLD_TO_NEW.get(int(ward.code))
        if entry is None:
            continue  # not in the table (a handful of islands): left out of the demo
        communes.append((int(ward.code), ward.name, int(ward.district_code)))
        went_to[int(ward.code)] = tuple(int(n.code) for n in entry.new_wards)
    new_codes = {c for targets in went_to.values() for c in targets}
    new_names = {c: Ward.from_code(WardCode(c)).name for c in new_codes}
    province_codes = {
        int(n.province_code) for e in map(OLD_TO_NEW.get, went_to) if e for n in e.new_wards
    }
    new_code = min(province_codes) if province_codes else code
    new = Province.from_code(ProvinceCode(new_code))
    return LegacyProvince(
        code=code,
        name=old.name,
        mail_domain=old.codename.replace("_", "") + ".gov.vn",
        districts=districts,
        communes=tuple(communes),
        went_to=went_to,
        new_names=new_names,
        new_province=(new_code, new.name),
    )


def _committee(name: str) -> str:
    """ "Xã Bình Lư" → "Ủy ban nhân dân xã Bình Lư"."""
    return f"Ủy ban nhân dân {name[:1].lower()}{name[1:]}"


def _unit_id(code: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://idhub.invalid/demo-reform/unit/{code}")


# -- the pre-2025 organisation and its staff ------------------------------------------------
def load_pre_reform(ctx: HrContext, legacy: LegacyProvince, *, staff: int, seed: int) -> dict:
    """Units, positions and `staff` people (with their posts) of the pre-2025 province."""
    session = ctx.session
    if session.scalar(select(OrgUnit.id).limit(1)) is not None:
        raise ValueError("the database already has org units; the reform demo needs an empty one")
    province_code = f"{legacy.code:02d}"
    units = [
        OrgUnit(
            id=_unit_id(province_code),
            code=province_code,
            name=_committee(legacy.name),
            type=UnitType.PROVINCE_COMMITTEE,
            mail_domain=legacy.mail_domain,
        )
    ]
    units += [
        OrgUnit(
            id=_unit_id(f"{code:03d}"),
            code=f"{code:03d}",
            name=_committee(name),
            type=UnitType.DISTRICT_COMMITTEE,
            parent_id=units[0].id,
        )
        for code, name in legacy.districts
    ]
    units += [
        OrgUnit(
            id=_unit_id(f"{code:05d}"),
            code=f"{code:05d}",
            name=_committee(name),
            type=UnitType.COMMUNE_COMMITTEE,
            parent_id=_unit_id(f"{district:03d}"),
        )
        for code, name, district in legacy.communes
    ]
    for unit in units:
        unit.valid_from, unit.status, unit.search_name = BEFORE, UnitStatus.ACTIVE, ""
        unit.version = 1
        session.add(unit)
        ctx.record_create(unit, "org_unit.create")
    positions = {
        code: Position(id=uuid.uuid4(), code=code, name=name, leadership_level=level, version=1)
        for code, name, level in POSITIONS
    }
    for position in positions.values():
        session.add(position)
        ctx.record_create(position, "position.create")
    session.flush()

    rng = random.Random(seed)
    communes = [u for u in units if u.type is UnitType.COMMUNE_COMMITTEE]
    districts = [u for u in units if u.type is UnitType.DISTRICT_COMMITTEE]
    items: list[bulk.Create] = []
    for n in range(staff):
        gender = nm.MALE if rng.random() < 0.5 else nm.FEMALE
        name = nm.random_name(rng, gender)
        roll = rng.random()
        if n < len(communes):  # every commune has its chairman
            unit, position_code = communes[n], "CT_UBND_XA"
        elif roll < 0.85:
            unit, position_code = rng.choice(communes), rng.choice(COMMUNE_STAFF)
        elif roll < 0.97:
            unit, position_code = rng.choice(districts), "CHUYEN_VIEN"
        else:
            unit, position_code = units[0], "CHUYEN_VIEN"
        ref = f"p{n}"
        items.append(
            bulk.Create(
                len(items),
                "create_person",
                {
                    "national_id": f"{legacy.code:03d}{n:09d}",
                    "family_name": name.family,
                    "middle_name": name.middle,
                    "given_name": name.given,
                },
                ref,
            )
        )
        items.append(
            bulk.Create(
                len(items),
                "create_assignment",
                {
                    "person_id": f"ref:{ref}",
                    "unit_id": unit.id,
                    "position_id": positions[position_code].id,
                    "kind": AssignmentKind.PRIMARY,
                    "start_date": BEFORE,
                    "decision_ref": f"{rng.randint(1, 2400)}/QĐ-UBND",
                },
            )
        )
    refs: dict[str, uuid.UUID] = {}
    bulk.create_many(ctx, items, refs)
    return {"units": len(units), "communes": len(communes), "people": staff}


# -- the change set of the reform -----------------------------------------------------------
@dataclass
class ReformPlan:
    body: dict[str, Any]
    merges: int = 0
    splits: int = 0
    dissolved: int = 0
    notes: list[str] = field(default_factory=list)


def reform_change_set(legacy: LegacyProvince, holders: dict[str, list[str]]) -> ReformPlan:
    """The change set of the 2025 reform, from the conversion table.

    `holders` maps an old commune code to the people holding posts there (by id): the
    people of a commune split between several new communes are shared out between them in
    turn, a stand-in for the lists a province would attach to its decision.
    """
    province = f"{legacy.code:02d}"
    whole: dict[int, list[int]] = defaultdict(list)  # new commune → old communes merged whole
    parts: dict[int, tuple[int, ...]] = {}  # old commune split → its new communes
    for old, targets in sorted(legacy.went_to.items()):
        if len(targets) == 1:
            whole[targets[0]].append(old)
        else:
            parts[old] = targets

    def new_unit(code: int) -> dict[str, Any]:
        return {
            "code": f"{code:05d}",
            "name": _committee(legacy.new_names[code]),
            "type": "commune_committee",
            "parent": province,
        }

    # A new commune often takes the code of one of the old ones: it can only be created
    # once that old commune is retired, so the operations run in an order that allows it.
    pending: list[tuple[str, int]] = [("merge", new) for new in sorted(whole)]
    pending += [("split", old) for old in sorted(parts)]
    active = {f"{old:05d}" for old in legacy.went_to}
    created: set[int] = set()
    operations: list[dict[str, Any]] = []
    plan = ReformPlan(body={})

    def sources(item: tuple[str, int]) -> list[int]:
        return whole[item[1]] if item[0] == "merge" else [item[1]]

    def creates(item: tuple[str, int]) -> list[int]:
        targets = [item[1]] if item[0] == "merge" else list(parts[item[1]])
        return [t for t in targets if t not in created]

    def ready(item: tuple[str, int]) -> bool:
        own = {f"{o:05d}" for o in sources(item)}
        return all(f"{t:05d}" not in active - own for t in creates(item))

    while pending:
        item = next((i for i in pending if ready(i)), pending[0])  # else: the check says why
        pending.remove(item)
        kind, code = item
        if kind == "merge":
            into: Any = f"{code:05d}" if code in created else new_unit(code)
            operations.append(
                {"op": "merge", "sources": [f"{o:05d}" for o in whole[code]], "into": into}
            )
            plan.merges += 1
        else:
            targets = parts[code]
            people = holders.get(f"{code:05d}", [])
            operations.append(
                {
                    "op": "split",
                    "source": f"{code:05d}",
                    "into": [f"{t:05d}" if t in created else new_unit(t) for t in targets],
                    "people": {p: f"{targets[i % len(targets)]:05d}" for i, p in enumerate(people)},
                    "default": f"{targets[0]:05d}",
                }
            )
            plan.splits += 1
        created.update(creates(item) if kind == "split" else [code])
        active -= {f"{o:05d}" for o in sources(item)}
    for code, _name in legacy.districts:
        operations.append({"op": "dissolve", "unit": f"{code:03d}", "successor": province})
        plan.dissolved += 1
    new_code, new_name = legacy.new_province
    if new_code != legacy.code:
        plan.notes.append(
            f"{legacy.name} became part of {new_name}; its committee is renamed here "
            "(the rest of the new province is not in this demo)"
        )
        operations.append(
            {
                "op": "rename",
                "unit": province,
                "name": _committee(new_name),
                "code": f"{new_code:02d}",
            }
        )
    plan.body = {
        "title": f"Sắp xếp đơn vị hành chính {legacy.name} (mô hình chính quyền hai cấp)",
        "description": "Bỏ cấp huyện; sắp xếp đơn vị hành chính cấp xã theo bảng chuyển đổi.",
        **DECISION,
        "operations": operations,
    }
    return plan


def holders_by_commune(session: Session) -> dict[str, list[str]]:
    rows = session.execute(
        select(OrgUnit.code, Assignment.person_id)
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .where(OrgUnit.type == UnitType.COMMUNE_COMMITTEE, Assignment.end_date.is_(None))
        .order_by(OrgUnit.code, Assignment.person_id)
    )
    holders: dict[str, list[str]] = defaultdict(list)
    for code, person_id in rows:
        holders[code].append(str(person_id))
    return holders


# -- end to end -------------------------------------------------------------------------------
def run_reform(
    db: Any,
    audit: Any,
    rules: Any,
    connector_factory: Any,
    workers_factory: Callable[[], Sequence[Worker]],
    *,
    base_dn: str,
    province: int,
    staff: int,
    seed: int,
    actor: Any,
    say: Any = print,
) -> dict[str, Any]:
    """Load, converge, build the reform, preview, apply, converge, verify; the report.

    `workers_factory()` gives the provisioning workers, the directory's first (they run
    here until no job is due).
    """
    from idhub.engine.reconcile import reconcile
    from idhub.models import ChangeSet, Person
    from idhub.reorg import changesets
    from idhub.reorg.preview import preview
    from idhub.reorg.schemas import ChangeSetSchema

    legacy = read_legacy(province)
    say(
        f"{legacy.name} before the reform: {len(legacy.districts)} districts, "
        f"{len(legacy.communes)} communes"
    )
    with db.transaction() as session:
        ctx = HrContext(
            session,
            audit,
            actor,
            reason="demo reform: the pre-2025 organisation",
            naming_pattern=rules.naming.pattern,
        )
        loaded = load_pre_reform(ctx, legacy, staff=staff, seed=seed)
    converge_all(workers_factory)
    say(f"loaded and converged {loaded['people']} people in {loaded['units']} units")

    with db.transaction() as session:
        plan = reform_change_set(legacy, holders_by_commune(session))
        ctx = HrContext(session, audit, actor, naming_pattern=rules.naming.pattern)
        change_set = changesets.create_change_set(ctx, ChangeSetSchema().load(plan.body))
        change_set_id = change_set.id
    for note in plan.notes:
        say(note)
    say(
        f"change set {change_set_id}: {plan.merges} merges, {plan.splits} splits, "
        f"{plan.dissolved} districts dissolved"
    )
    connector = connector_factory()
    try:
        shown = preview(db, connector, rules, change_set_id, base_dn=base_dn)
    finally:
        connector.close()
    if not shown["ok"]:
        problems = "; ".join(p["message"] for p in shown["problems"][:10])
        raise ValueError(f"the reform change set has problems: {problems}")
    say(
        f"preview: units {shown['units']}, people {shown['people']}, "
        f"collisions {len(shown['collisions'])}"
    )
    expected = {row["person_id"]: row["new_dn"] for row in shown["rows"]}

    with db.transaction() as session:
        change_set = session.get(ChangeSet, change_set_id)
        ctx = HrContext(
            session, audit, actor, reason=change_set.reason, naming_pattern=rules.naming.pattern
        )
        summary = changesets.apply(ctx, change_set)
    say(f"applied: {summary}")
    converge_all(workers_factory, prune=True)

    connector = connector_factory()
    try:
        with db.transaction() as session:
            change_set = session.get(ChangeSet, change_set_id)
            progress = changesets.progress(session, change_set)
            people = [str(p) for p in session.scalars(select(Person.id))]
            retired = {
                str(u)
                for u in session.scalars(
                    select(OrgUnit.id).where(OrgUnit.status != UnitStatus.ACTIVE)
                )
            }
        accounts = connector.read_many([AccountKey(p) for p in people])
        left_in_retired = sorted(
            dn for dn, unit_id in connector.unit_containers().items() if unit_id in retired
        )
        drift = reconcile(db, connector, rules, base_dn=base_dn)
    finally:
        connector.close()
    wrong_place = sorted(
        p
        for p, dn in expected.items()
        if AccountKey(p) not in accounts or accounts[AccountKey(p)].name.lower() != dn.lower()
    )
    report = {
        "province": legacy.name,
        "change_set_id": str(change_set_id),
        "people": len(people),
        "accounts": len(accounts),
        "moved": len(expected),
        "progress": progress,
        "not_where_the_preview_said": len(wrong_place),
        "ous_of_retired_units_left": len(left_in_retired),
        "drift": dict(drift.drift),
        "in_sync": drift.in_sync,
        "ok": (
            len(accounts) == len(people)
            and not wrong_place
            and not left_in_retired
            and not drift.drift
            and progress["done"] == progress["people"]
        ),
    }
    say(f"converged: {report}")
    return report


def converge_all(workers_factory: Callable[[], Sequence[Worker]], *, prune: bool = False) -> int:
    """Run the workers (directory first, then the targets that follow it) until none has
    a job due; then, with `prune`, remove the OUs the moves emptied."""
    workers = workers_factory()
    total = 0
    try:
        while done := sum(w.run_once() for w in workers):
            total += done
        if prune:
            workers[0].target.tidy()
    finally:
        for w in workers:
            w.close()
    return total
