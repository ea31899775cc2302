"""The administrative roles and the API scopes each brings (within the role's subtree)."""

from __future__ import annotations

from provisioning.rules import ADMIN_ROLES

PROVINCE_ADMIN = "province_admin"
HR_OFFICER = "hr_officer"
SECURITY_OFFICER = "security_officer"
AUDITOR = "auditor"
APP_OWNER = "app_owner"
ROLES = ADMIN_ROLES

# What a role may do at the API, inside its subtree. A province administrator does
# everything; an app owner only manages their own clients (no HR data).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    PROVINCE_ADMIN: frozenset(
        {"hr:read", "hr:write", "audit:read", "admin", "access:reset", "apps"}
    ),
    HR_OFFICER: frozenset({"hr:read", "hr:write"}),
    SECURITY_OFFICER: frozenset({"hr:read", "audit:read", "access:reset"}),
    AUDITOR: frozenset({"hr:read", "audit:read"}),
    APP_OWNER: frozenset({"apps"}),  # their own clients (idhub/oidc/client_admin.py)
}

LABELS = {
    PROVINCE_ADMIN: "Quản trị viên cấp tỉnh / Province administrator",
    HR_OFFICER: "Cán bộ tổ chức (nhân sự) / Unit HR officer",
    SECURITY_OFFICER: "Cán bộ an toàn thông tin / Security officer",
    AUDITOR: "Kiểm toán / Auditor",
    APP_OWNER: "Chủ ứng dụng / App owner",
}


def roles_with(scopes: set[str] | frozenset[str] | list[str]) -> frozenset[str]:
    """The roles that bring any of these API scopes."""
    wanted = set(scopes)
    return frozenset(role for role, has in ROLE_SCOPES.items() if has & wanted)


def implies(held: str, wanted: str) -> bool:
    """Whether holding `held` over a subtree covers granting `wanted` over it."""
    return held in (wanted, PROVINCE_ADMIN)
