"""Issue usernames: the naming convention, numbered on collision, never reissued."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.models import Person, ReservedIdentifier, Seat, time_ordered_uuid
from provisioning.naming import allocate_identifier, identifier_base, numbered_identifier

_WINDOW = 64
_PREFETCH_WINDOW = 8  # most names have few namesakes; allocate() looks further when needed
_CHUNK = 900  # bound parameters per IN (), below every SQLite build's limit


class UsernameAllocator:
    """Allocates identifiers in one transaction, looking reserved names up in bulk.

    Candidates (annv, annv2, annv3, …) are looked up 64 at a time by primary key: one query
    even for the 60th "Nguyễn Văn An", and no LIKE (a table scan on SQLite). A batch
    prefetches the windows of all its bases at once. Two transactions racing for one name
    collide on the reserved table's primary key; the loser's transaction fails and is
    retried by its caller, so a name is never issued twice.

    On SQLite (text compared byte by byte) a batch instead asks, per base, how many of
    base, base2, base3, … are issued and the highest number among them, counted by
    SQLite over an index range (`[base0, base:)` holds base<digits> in byte order). Names
    are never reissued, so the numbers are usually dense (1 … k all issued): then the
    first free name is number k + 1 and every later one is free, and a province's 40th
    "Nguyễn Văn An" costs the same Python work as a first "Lê Thị Mai". A base with gaps
    (a seat mailbox's uid, a name issued by hand) has its names read as rows instead.
    """

    def __init__(self, session: Session, pattern: str) -> None:
        self.session = session
        self.pattern = pattern
        self._taken: set[str] = set()
        self._checked: set[str] = set()
        self._scanned: set[str] = set()  # bases whose every issued numbered name is known
        self._first_unknown: dict[str, int] = {}  # of a scanned base: those below are taken

    def base(self, family_name: str, middle_name: str, given_name: str) -> str:
        return identifier_base(family_name, middle_name, given_name, self.pattern)

    def _window(self, candidate: str, base: str, size: int = _WINDOW) -> list[str]:
        suffix = candidate[len(base) :] if candidate.startswith(base) else ""
        start = int(suffix) if suffix.isdigit() else 1
        first = max(start, 2)
        return [candidate, *self._numbered(base, first, start + size - first)]

    def prefetch(self, bases: Iterable[str]) -> None:
        """Look up enough candidates of every base for the batch, in a few queries.

        A base wanted k times needs k free names. The first window is small (most names
        have few namesakes); bases whose checked candidates are not yet free enough for
        their demand get a window four times larger in the next query, together, so a
        province full of "Nguyễn Văn An"s costs a few queries, not one per person.
        """
        demand = Counter(bases)
        if self.session.get_bind().dialect.name == "sqlite":
            self._scan(self._count(sorted(demand)))
            return
        start, size = 1, _PREFETCH_WINDOW
        pending = sorted(demand)
        while pending:
            windows = {base: self._numbered(base, start, size) for base in pending}
            wanted = [c for window in windows.values() for c in window if c not in self._checked]
            self._checked.update(wanted)
            for offset in range(0, len(wanted), _CHUNK // 2):
                self._taken.update(self._issued(wanted[offset : offset + _CHUNK // 2]))
            pending = [
                base
                for base in pending
                if sum(c not in self._taken for c in self._numbered(base, 1, start + size - 1))
                < demand[base]
            ]
            start, size = start + size, size * 4

    @staticmethod
    def _numbered(base: str, start: int, size: int) -> list[str]:
        """Candidates start … start+size-1 of `base` (1 is the base itself)."""
        return [base if n == 1 else f"{base}{n}" for n in range(start, start + size)]

    def _issued(self, candidates: list[str]) -> list[str]:
        """Those of the candidates a person or a seat mailbox (its uid) already has."""
        return list(
            self.session.scalars(
                select(ReservedIdentifier.identifier)
                .where(among(self.session, ReservedIdentifier.identifier, candidates))
                .union_all(select(Seat.uid).where(among(self.session, Seat.uid, candidates)))
            )
        )

    def _count(self, bases: list[str]) -> list[str]:
        """Settle the bases whose issued numbers are dense (1 … k, k + 1 the first free
        name) from one count per base; returns the others, to be scanned row by row.

        Counted in SQLite, not fetched: the Python work per base is the same for 40
        namesakes as for none. A numbered name is base + a number ≥ 2 without a leading
        zero (what `numbered_identifier` makes: above base1, below base:, digits only);
        other names are not candidates and are left out of the count and the highest."""
        # Numbers of up to 6 digits (the allocator gives up before 100,000 candidates);
        # count and highest packed into one value: one range walk per table and base.
        numbered = (
            "SELECT count(*) * 1000000"
            " + coalesce(max(CAST(substr({c}, length(b.base) + 1) AS INTEGER)), 0)"
            " FROM {t} WHERE {c} > b.base || '1' AND {c} < b.base || ':'"
            " AND length({c}) <= length(b.base) + 6"
            " AND substr({c}, length(b.base) + 1) NOT GLOB '*[^0-9]*'"
        )
        columns = []
        for template in ("EXISTS (SELECT 1 FROM {t} WHERE {c} = b.base)", numbered):
            for table, column in (("reserved_identifier", "identifier"), ("seat", "uid")):
                columns.append("(" + template.format(t=table, c=column) + ")")
        scan = []
        for offset in range(0, len(bases), _CHUNK):
            chunk = bases[offset : offset + _CHUNK]
            values = ", ".join(["(?)"] * len(chunk))
            statement = (
                f"WITH b(base) AS (VALUES {values}) SELECT b.base, {', '.join(columns)} FROM b"
            )
            rows = self.session.connection().exec_driver_sql(statement, tuple(chunk))
            for base, in_people, in_seats, *numbers in rows:
                has_base = bool(in_people or in_seats)
                count = has_base + sum(n // 1000000 for n in numbers)
                top = max(1 if has_base else 0, *(n % 1000000 for n in numbers))
                if count == top:  # 1 … top all issued, every later number free
                    self._scanned.add(base)
                    self._first_unknown[base] = top + 1
                else:
                    scan.append(base)
        return scan

    def _scan(self, bases: list[str]) -> None:
        """Every issued name of the form base or base<digits>, for all `bases`: one index
        lookup and one index range per base (`[base0, base:)` holds base<digits> in byte
        order, and little else), a few hundred bases per statement. Plain DB-API: the
        statement is fixed per chunk size and the rows are plain strings."""
        term = "({c} = ? OR ({c} >= ? AND {c} < ?))"
        for offset in range(0, len(bases), _CHUNK // 6):
            chunk = bases[offset : offset + _CHUNK // 6]
            where = " OR ".join([term] * len(chunk))
            params = tuple(p for base in chunk for p in (base, f"{base}0", f"{base}:"))
            statement = (
                f"SELECT identifier FROM reserved_identifier WHERE {where.format(c='identifier')}"
                f" UNION ALL SELECT uid FROM seat WHERE {where.format(c='uid')}"
            )
            rows = self.session.connection().exec_driver_sql(statement, params + params)
            self._taken.update(rows.scalars().all())
            self._scanned.update(chunk)

    def _known(self, candidate: str, base: str) -> bool:
        """Whether `candidate` is a name of `base` that a scan already settled."""
        return base in self._scanned and (
            candidate == base or (candidate.startswith(base) and candidate[len(base) :].isdigit())
        )

    def allocate(self, base: str) -> str:
        """The first free name for `base`, marked taken for the rest of this transaction."""

        def is_taken(candidate: str) -> bool:
            if candidate not in self._checked and not self._known(candidate, base):
                window = [c for c in self._window(candidate, base) if c not in self._checked]
                self._checked.update(window)
                self._taken.update(self._issued(window))
            return candidate in self._taken

        start = 1
        if base in self._scanned:  # skip the namesakes in one pass over a set
            start = self._first_unknown.get(base, 1)
            while numbered_identifier(base, start) in self._taken:
                start += 1
            self._first_unknown[base] = start
        username = allocate_identifier(base, is_taken, start=start)
        self._taken.add(username)
        return username


def issue_username(session: Session, person: Person, pattern: str) -> str:
    """Allocate and reserve the person's identifier in the caller's transaction."""
    if person.username:
        return person.username
    allocator = UsernameAllocator(session, pattern)
    username = allocator.allocate(
        allocator.base(person.family_name, person.middle_name, person.given_name)
    )
    person.username = username
    if person.id is None:
        person.id = time_ordered_uuid()
    session.add(ReservedIdentifier(identifier=username, person_id=person.id, person=person))
    return username
