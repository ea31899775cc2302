"""A fixed corpus of (person, rules) cases and a stable digest of the policy's answer.

The digests in ``data/desired_accounts.json`` were recorded from ``desired_account``
before it was split into mappings; ``test_policy_mappings`` checks the composed policy
still gives exactly those answers (attribute order included). The corpus is drawn from
a seeded ``random.Random``, whose choices are stable across Python versions.

Re-record (only when a change of output is intended):
``PYTHONPATH=. python -m tests.provisioning.policy_corpus``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from provisioning.model import DesiredAccount, PastAddress, PersonSnapshot, PostKind
from provisioning.policy import desired_account
from provisioning.rules import Rules
from tests.provisioning.test_policy import BASE, POSITIONS, RULES, TODAY, UNITS, person, post

RECORDED = Path(__file__).with_name("data") / "desired_accounts.json"
CASES = 3000


def rule_variants() -> list[Rules]:
    """The shipped rules and variants that reach every branch of the policy."""
    mail = RULES.mail
    joiner, leaver = RULES.joiner, RULES.leaver
    return [
        RULES,
        dataclasses.replace(
            RULES,
            joiner=dataclasses.replace(joiner, prehire_days=14),
            leaver=dataclasses.replace(leaver, retention_days=0),
            unit_groups=False,
        ),
        dataclasses.replace(
            RULES,
            leaver=dataclasses.replace(leaver, delete_after_retention=False),
            mail=dataclasses.replace(
                mail, leaver_action="bounce", old_addresses_until=TODAY + dt.timedelta(days=30)
            ),
        ),
        dataclasses.replace(
            RULES,
            joiner=dataclasses.replace(joiner, prehire_days=30),
            mail=dataclasses.replace(
                mail,
                leaver_forward_to=("unit",),
                leaver_forward_days=20,
                old_address_days=10,
            ),
        ),
        dataclasses.replace(
            RULES, mail=dataclasses.replace(mail, unit_mailbox="", leaver_forward_to=("unit",))
        ),
    ]


def _day(rng: random.Random, low: int, high: int) -> dt.date:
    return TODAY + dt.timedelta(days=rng.randint(low, high))


def cases(count: int = CASES) -> Iterator[tuple[PersonSnapshot, Rules]]:
    rng = random.Random(20260415)
    variants = rule_variants()
    positions = sorted(POSITIONS)
    names = ["", "Nguyễn", "Trần Thị", "Lê", "Ðặng", "Nguyễn"]
    for i in range(count):
        posts = []
        for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 4])):
            start = _day(rng, -900, 60)
            end = rng.choice([None, None, start + dt.timedelta(days=rng.randint(-1, 900))])
            posts.append(
                post(
                    rng.choice(UNITS),
                    rng.choice(positions),
                    kind=rng.choice([PostKind.PRIMARY, PostKind.PRIMARY, PostKind.CONCURRENT]),
                    start=start,
                    end=end,
                )
            )
        addresses = tuple(
            PastAddress(
                rng.choice(["annv@snv.laichau.gov.vn", "AnNV@old.gov.vn", "x@y.vn", ""]),
                rng.choice([None, _day(rng, -800, 0)]),
            )
            for _ in range(rng.choice([0, 0, 1, 2]))
        )
        p = person(
            *posts,
            status=rng.choice(["active", "active", "active", "suspended", "left"]),
            username=rng.choice(["annv", "anhdtn", "an.nv", "annv2"]),
            id=f"6f1c2d3e-0000-4000-8000-{i:012d}",
            family=rng.choice(names),
            middle=rng.choice(names),
            given=rng.choice(["An", "", "Bình"]),
            civil_servant_code=rng.choice([None, "CC-1", "CC 2, x"]),
        )
        p = dataclasses.replace(
            p,
            addresses=addresses,
            successor_address=rng.choice([None, None, " Hadt@SNV.laichau.gov.vn ", "annv@x.vn"]),
        )
        yield p, variants[i % len(variants)]


def record(d: DesiredAccount) -> dict[str, Any]:
    """The whole answer as JSON data; dict order kept (the planner follows it)."""
    return {
        "person_id": d.person_id,
        "state": d.state.value,
        "name": d.name,
        "attributes": [[k, list(v)] for k, v in d.attributes.items()],
        "groups": sorted(d.groups),
        "containers": [
            [c.name, c.unit_id, [[k, list(v)] for k, v in c.attributes.items()]]
            for c in d.containers
        ],
        "roles": list(d.roles),
        "app_roles": list(d.app_roles),
        "quota_class": d.quota_class,
        "reasons": list(d.reasons),
    }


def digest(d: DesiredAccount) -> str:
    text = json.dumps(record(d), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def answers() -> Iterator[DesiredAccount | str]:
    """The policy's answer per case, or the error it raised (as "error: ...")."""
    for p, rules in cases():
        try:
            yield desired_account(p, rules, base_dn=BASE)
        except ValueError as exc:
            yield f"error: {exc}"


def main() -> None:
    RECORDED.parent.mkdir(exist_ok=True)
    out = [a if isinstance(a, str) else digest(a) for a in answers()]
    RECORDED.write_text(json.dumps(out, indent=0) + "\n", encoding="utf-8")
    print(f"recorded {len(out)} answers in {RECORDED}")


if __name__ == "__main__":
    main()
