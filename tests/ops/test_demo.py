"""`idhub demo load`: a real province after the 2025 reform with synthetic, reproducible staff."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from idhub.changes.chain import AuditLog
from idhub.db import Database
from idhub.identity import cccd
from idhub.models import (
    Assignment,
    AssignmentKind,
    AuditEvent,
    Base,
    OrgUnit,
    Person,
    PersonStatus,
    Position,
    UnitStatus,
    UnitType,
    sealed,
)
from idhub.ops.demo import DemoAlreadyLoaded, DemoSummary, DemoUnavailable, load_demo
from provisioning.naming import search_key

TODAY = dt.date(2026, 1, 15)
REFORM = dt.date(2025, 7, 1)
LAI_CHAU = 12
LAI_CHAU_COMMUNES = 38
STAFF = 300

# Outside CI a developer may lack the optional GPL package; CI installs it, so there a
# missing package fails these tests instead of skipping them.
PROVINCES_MISSING = importlib.util.find_spec("vietnam_provinces") is None and not os.environ.get(
    "CI"
)
needs_provinces = pytest.mark.skipif(
    PROVINCES_MISSING, reason="optional dev dependency vietnam-provinces not installed"
)


def make_db(directory: Path) -> Database:
    db = Database(f"sqlite:///{directory}/t.db")
    Base.metadata.create_all(db.engine)
    keys = sealed.PersonalKeys(sealed.new_data_key(), sealed.new_index_key())
    sealed.attach(db.engine, lambda: keys)  # a bare engine: its own personal data keys
    return db


def load(db: Database, audit: AuditLog, **kwargs) -> DemoSummary:
    kwargs.setdefault("staff", STAFF)
    kwargs.setdefault("today", TODAY)
    with db.transaction() as session:
        return load_demo(session, audit, **kwargs)


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every HR row, ids included, in a stable order."""
    with db.session(write=False) as s:
        return {
            "units": [
                (u.id, u.code, u.name, u.short_name, u.type, u.parent_id, u.mail_domain)
                for u in s.scalars(select(OrgUnit).order_by(OrgUnit.id))
            ],
            "positions": [
                (p.id, p.code, p.name, p.leadership_level)
                for p in s.scalars(select(Position).order_by(Position.id))
            ],
            "people": [
                (
                    p.id, p.national_id, p.civil_servant_code, p.family_name, p.middle_name,
                    p.given_name, p.search_name, p.date_of_birth, p.personal_email,
                    p.personal_phone,
                )
                for p in s.scalars(select(Person).order_by(Person.id))
            ],
            "assignments": [
                (
                    a.id, a.person_id, a.unit_id, a.position_id, a.kind, a.start_date,
                    a.end_date, a.decision_ref,
                )
                for a in s.scalars(select(Assignment).order_by(Assignment.id))
            ],
        }  # fmt: skip


@pytest.fixture(scope="module")
def audit() -> AuditLog:
    return AuditLog("test-key")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, audit) -> Iterator[tuple[Database, DemoSummary]]:
    """One Lai Châu load with 300 people, shared by the read-only tests."""
    if PROVINCES_MISSING:
        pytest.skip("optional dev dependency vietnam-provinces not installed")
    db = make_db(tmp_path_factory.mktemp("demo"))
    summary = load(db, audit, province_code=LAI_CHAU, seed=2025)
    yield db, summary
    db.dispose()


# -- organisation ---------------------------------------------------------------------


def test_summary_matches_database(loaded):
    db, summary = loaded
    with db.session(write=False) as s:
        count = lambda model: s.scalar(select(func.count()).select_from(model))  # noqa: E731
        concurrent = s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.kind == AssignmentKind.CONCURRENT)
        )
        assert summary.units == count(OrgUnit)
        assert summary.positions == count(Position)
        assert summary.people == count(Person) == STAFF
        assert summary.assignments == count(Assignment)
        assert summary.concurrent_assignments == concurrent
        assert summary.audit_events == count(AuditEvent)
    assert summary.province_name == "Lai Châu"
    assert summary.root_unit_name == "Ủy ban nhân dân tỉnh Lai Châu"
    assert summary.communes == LAI_CHAU_COMMUNES
    # committee + 12 departments + their divisions + 3 centres + 38 communes
    assert 80 <= summary.units <= 95


def test_root_departments_and_divisions(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        units = s.scalars(select(OrgUnit)).all()
    by_type: dict[UnitType, list[OrgUnit]] = {}
    for u in units:
        by_type.setdefault(u.type, []).append(u)

    [root] = by_type[UnitType.PROVINCE_COMMITTEE]
    assert root.code == "12"
    assert root.name == "Ủy ban nhân dân tỉnh Lai Châu"
    assert root.mail_domain == "laichau.gov.vn"
    assert root.parent_id is None
    assert root.search_name == "uy ban nhan dan tinh lai chau ubnd tinh lai chau"

    departments = by_type[UnitType.DEPARTMENT]
    assert len(departments) == 12
    assert all(d.parent_id == root.id for d in departments)
    assert all(re.fullmatch(r"12\.[A-Z]+", d.code) for d in departments)
    short_names = {d.short_name for d in departments}
    for name in ("Sở Nội vụ", "Sở Tài chính", "Sở Nông nghiệp và Môi trường", "Sở Y tế",
                 "Sở Văn hóa, Thể thao và Du lịch", "Sở Công Thương", "Thanh tra tỉnh",
                 "Văn phòng UBND tỉnh"):  # fmt: skip
        assert name in short_names
    assert "Sở Nội vụ tỉnh Lai Châu" in {d.name for d in departments}

    dept_ids = {d.id: d for d in departments}
    per_dept = Counter(u.parent_id for u in by_type[UnitType.DEPARTMENT_DIVISION])
    assert set(per_dept) == set(dept_ids)
    assert all(2 <= n <= 3 for n in per_dept.values())
    for division in by_type[UnitType.DEPARTMENT_DIVISION]:
        assert division.code.startswith(dept_ids[division.parent_id].code + ".")

    assert 2 <= len(by_type[UnitType.PUBLIC_SERVICE_UNIT]) <= 4
    assert all(u.valid_from == REFORM and u.valid_to is None for u in units)
    assert all(u.status is UnitStatus.ACTIVE for u in units)
    assert all(u.code.isascii() for u in units)
    assert len({u.code for u in units}) == len(units)


def test_communes_are_the_real_wards_of_the_province(loaded):
    from vietnam_provinces import ProvinceCode, Ward

    db, _ = loaded
    with db.session(write=False) as s:
        communes = s.scalars(
            select(OrgUnit).where(OrgUnit.type == UnitType.COMMUNE_COMMITTEE)
        ).all()
        root_id = s.scalar(select(OrgUnit.id).where(OrgUnit.code == "12"))
    wards = {f"{int(w.code):05d}": w.name for w in Ward.iter_by_province(ProvinceCode(12))}
    assert len(wards) == LAI_CHAU_COMMUNES
    assert {c.code: c.short_name for c in communes} == wards
    for c in communes:
        assert re.fullmatch(r"\d{5}", c.code)
        assert c.parent_id == root_id
        assert c.name == "Ủy ban nhân dân " + c.short_name[0].lower() + c.short_name[1:]
    assert "Ủy ban nhân dân xã Mường Tè" in {c.name for c in communes}


def test_positions_catalogue(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        positions = {p.code: p for p in s.scalars(select(Position))}
    for code in ("CT_UBND_TINH", "PCT_UBND_TINH", "GIAM_DOC_SO", "PHO_GIAM_DOC_SO",
                 "TRUONG_PHONG", "PHO_TRUONG_PHONG", "CT_UBND_XA", "PCT_UBND_XA",
                 "CHUYEN_VIEN", "CHUYEN_VIEN_CHINH", "CONG_CHUC_TP_HT", "KE_TOAN", "VAN_THU",
                 "CNTT"):  # fmt: skip
        assert code in positions
    assert all(re.fullmatch(r"[A-Z_]+", c) for c in positions)
    assert all(0 <= p.leadership_level <= 9 for p in positions.values())
    assert positions["CT_UBND_TINH"].name == "Chủ tịch Ủy ban nhân dân tỉnh"
    assert positions["CT_UBND_TINH"].leadership_level > positions["GIAM_DOC_SO"].leadership_level
    assert positions["GIAM_DOC_SO"].leadership_level > positions["TRUONG_PHONG"].leadership_level
    assert positions["CHUYEN_VIEN"].leadership_level == 0


# -- people ---------------------------------------------------------------------------


def test_people(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        people = s.scalars(select(Person)).all()
    ids = [p.national_id for p in people]
    assert all(re.fullmatch(r"\d{12}", n) for n in ids)
    assert len(set(ids)) == len(ids)
    codes = [p.civil_servant_code for p in people if p.civil_servant_code]
    assert len(codes) == len(set(codes))
    assert len(codes) >= 0.8 * len(people)
    for p in people:
        dob = p.date_of_birth
        assert dt.date(1966, 1, 1) <= dob <= dt.date(2001, 12, 31)
        # CCCD: province of birth, century/gender digit, two-digit birth year
        assert p.national_id[3] in ("01" if dob.year < 2000 else "23")
        assert p.national_id[4:6] == f"{dob.year % 100:02d}"
        assert not cccd.problems(p.national_id, dob)  # what the API and `hr check` ask
        assert re.fullmatch(r"[a-z0-9.]+@(gmail|yahoo)\.com", p.personal_email)
        assert re.fullmatch(r"0[35789]\d{8}", p.personal_phone)
        assert p.status is PersonStatus.ACTIVE
        for part in (p.family_name, p.middle_name, p.given_name, p.full_name):
            assert unicodedata.is_normalized("NFC", part)
            assert part == part.strip()
        assert p.family_name and p.given_name
        assert p.search_name == search_key(p.full_name)
    # Most were born in the province itself (old code 012).
    assert sum(p.national_id.startswith("012") for p in people) > 0.6 * len(people)
    names = Counter(p.full_name for p in people)
    assert names["Nguyễn Văn An"] >= 3
    families = Counter(p.family_name for p in people)
    assert 0.25 <= families["Nguyễn"] / len(people) <= 0.5
    assert families.keys() & {"Lò", "Lường", "Tòng", "Quàng", "Cầm", "Vàng", "Giàng", "Sùng"}


# -- assignments ----------------------------------------------------------------------


def test_every_person_has_one_open_primary(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        people = s.scalars(select(Person.id)).all()
        assignments = s.scalars(select(Assignment)).all()
    primaries = Counter(
        a.person_id for a in assignments if a.kind is AssignmentKind.PRIMARY and a.end_date is None
    )
    assert set(primaries) == set(people)
    assert set(primaries.values()) == {1}
    for a in assignments:
        assert REFORM <= a.start_date < TODAY
        assert re.fullmatch(r"\d+/QĐ-[A-Z]+", a.decision_ref)


def test_concurrent_posts(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        assignments = s.scalars(select(Assignment)).all()
    primary = {a.person_id: a for a in assignments if a.kind is AssignmentKind.PRIMARY}
    concurrent = [a for a in assignments if a.kind is AssignmentKind.CONCURRENT]
    assert 0.03 * STAFF <= len(concurrent) <= 0.07 * STAFF
    assert len({a.person_id for a in concurrent}) == len(concurrent)
    for a in concurrent:
        assert a.unit_id != primary[a.person_id].unit_id
        assert a.start_date >= primary[a.person_id].start_date


def test_leaders(loaded):
    db, _ = loaded
    with db.session(write=False) as s:
        units = {u.id: u for u in s.scalars(select(OrgUnit))}
        positions = {p.id: p.code for p in s.scalars(select(Position))}
        rows = s.scalars(select(Assignment).where(Assignment.kind == AssignmentKind.PRIMARY))
        held = Counter((a.unit_id, positions[a.position_id]) for a in rows)

    def count(unit: OrgUnit, *codes: str) -> int:
        return sum(held[(unit.id, c)] for c in codes)

    for u in units.values():
        if u.type is UnitType.PROVINCE_COMMITTEE:
            assert count(u, "CT_UBND_TINH") == 1
            assert 3 <= count(u, "PCT_UBND_TINH") <= 4
        elif u.type is UnitType.COMMUNE_COMMITTEE:
            assert count(u, "CT_UBND_XA") == 1
            assert 1 <= count(u, "PCT_UBND_XA") <= 2
        elif u.type is UnitType.DEPARTMENT:
            assert count(u, "GIAM_DOC_SO", "CHANH_VP_UBND_TINH", "CHANH_THANH_TRA_TINH") == 1
            deputies = ("PHO_GIAM_DOC_SO", "PHO_CHANH_VP_UBND_TINH", "PHO_CHANH_THANH_TRA_TINH")
            assert 1 <= count(u, *deputies) <= 3
        elif u.type is UnitType.DEPARTMENT_DIVISION:
            assert count(u, "TRUONG_PHONG", "CHANH_VP_SO", "CHI_CUC_TRUONG") == 1
    # Communes get most of the people.
    commune_staff = sum(
        n for (unit_id, _), n in held.items() if units[unit_id].type is UnitType.COMMUNE_COMMITTEE
    )
    assert commune_staff > 0.5 * STAFF


# -- audit ----------------------------------------------------------------------------


def test_audit_chain_has_one_event_per_object(loaded, audit):
    db, summary = loaded
    with db.session(write=False) as s:
        assert audit.verify_session(s).ok
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        objects = {
            "org_unit": {str(i) for i in s.scalars(select(OrgUnit.id))},
            "position": {str(i) for i in s.scalars(select(Position.id))},
            "person": {str(i) for i in s.scalars(select(Person.id))},
            "assignment": {str(i) for i in s.scalars(select(Assignment.id))},
        }
    assert len(events) == summary.units + summary.positions + summary.people + summary.assignments
    for kind, ids in objects.items():
        mine = [e for e in events if e.object_type == kind]
        assert {e.action for e in mine} == {f"{kind}.create"}
        assert sorted(e.object_id for e in mine) == sorted(ids)
    for e in events:
        assert (e.actor_type, e.actor_id) == ("cli", "demo")
        assert e.reason == "demo load (seed 2025)"
        assert e.before is None
        assert "created_at" not in e.after and "version" not in e.after
    person = next(e for e in events if e.object_type == "person")
    assert set(person.after) >= {"national_id", "family_name", "given_name", "date_of_birth"}


# -- determinism ----------------------------------------------------------------------


@needs_provinces
def test_same_seed_same_data_other_seed_other_people(loaded, audit, tmp_path):
    db, _ = loaded
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    again = make_db(tmp_path / "a")
    other = make_db(tmp_path / "b")
    load(again, audit, province_code=LAI_CHAU, seed=2025)
    load(other, audit, province_code=LAI_CHAU, seed=7)

    first, second, third = snapshot(db), snapshot(again), snapshot(other)
    assert first == second
    # Units and positions are the real ones (name-based ids); the people are not.
    assert first["units"] == third["units"]
    assert first["positions"] == third["positions"]
    assert {p[0] for p in first["people"]}.isdisjoint({p[0] for p in third["people"]})
    assert {p[1] for p in first["people"]} != {p[1] for p in third["people"]}
    assert first["assignments"] != third["assignments"]
    again.dispose()
    other.dispose()


# -- refusals -------------------------------------------------------------------------


def test_second_load_is_refused(loaded, audit):
    db, summary = loaded
    with pytest.raises(DemoAlreadyLoaded), db.transaction() as session:
        load_demo(session, audit, staff=10, today=TODAY)
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Person)) == summary.people


@needs_provinces
@pytest.mark.parametrize("code", [2, 99, 0])  # 2 = Hà Giang, merged into Tuyên Quang in 2025
def test_unknown_province(tmp_path, audit, code):
    db = make_db(tmp_path)
    with pytest.raises(DemoUnavailable, match="unknown province"):
        load(db, audit, province_code=code)
    db.dispose()


def test_missing_package(tmp_path, audit, monkeypatch):
    monkeypatch.setitem(sys.modules, "vietnam_provinces", None)  # makes the import fail
    db = make_db(tmp_path)
    with pytest.raises(DemoUnavailable, match="vietnam_provinces"):
        load(db, audit)
    db.dispose()


def test_package_is_imported_lazily():
    code = "import sys, idhub.ops.demo; assert 'vietnam_provinces' not in sys.modules"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@needs_provinces
def test_caller_owns_the_transaction(tmp_path, audit):
    db = make_db(tmp_path)
    with db.session(write=True) as session:
        load_demo(session, audit, staff=20, today=TODAY)
        session.rollback()
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(OrgUnit)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0
    db.dispose()


# -- sizes ----------------------------------------------------------------------------


@needs_provinces
def test_few_people_fill_the_top_posts_first(tmp_path, audit):
    db = make_db(tmp_path)
    summary = load(db, audit, staff=20)
    assert summary.people == 20
    assert summary.vacant_leader_posts > 0
    with db.session(write=False) as s:
        top = s.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(Position)
            .where(Position.code == "CT_UBND_TINH")
        )
        assert top == 1
        assert audit.verify_session(s).ok
    db.dispose()


@needs_provinces
def test_full_size(tmp_path, audit):
    db = make_db(tmp_path)
    summary = load(db, audit, staff=3000, province_code=LAI_CHAU)
    assert summary.people == 3000
    assert summary.communes == LAI_CHAU_COMMUNES
    assert 120 <= summary.concurrent_assignments <= 180
    assert summary.assignments == 3000 + summary.concurrent_assignments
    with db.session(write=False) as s:
        people = s.scalars(select(Person)).all()
        assert len({p.national_id for p in people}) == 3000
        assert sum(p.search_name == "nguyen van an" for p in people) >= 3
        open_primaries = s.scalar(
            select(func.count(func.distinct(Assignment.person_id))).where(
                Assignment.kind == AssignmentKind.PRIMARY, Assignment.end_date.is_(None)
            )
        )
        assert open_primaries == 3000
        assert audit.verify_session(s).ok
    db.dispose()
