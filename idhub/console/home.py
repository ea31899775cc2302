"""The console's home: who is here, what they administer, what needs attention in their
scope (attention.py), and the way into each section."""

from __future__ import annotations

from werkzeug.wrappers import Response

from idhub.console.attention import attention
from idhub.console.frame import bp, current_admin, render_console
from idhub.db import get_db
from idhub.oidc.i18n import t

READ = ("hr:read", "hr:write", "admin", "audit:read", "access:reset")


@bp.get("")
def home() -> Response:
    admin = current_admin()
    if isinstance(admin, Response):
        return admin
    title = t("console.title.home")
    if not admin.may(*READ):  # an app owner: no HR data
        return render_console("console_home_attention.html", title=title, needs=None)
    with get_db().reading() as session:
        needs = attention(session, admin.scope(*READ))
        return render_console("console_home_attention.html", title=title, needs=needs)
