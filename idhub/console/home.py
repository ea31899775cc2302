"""The console's home: who is here, what they administer, and the way into each section."""

from __future__ import annotations

from werkzeug.wrappers import Response

from idhub.console.frame import bp, current_admin, render_console
from idhub.oidc.i18n import t


@bp.get("")
def home() -> Response:
    admin = current_admin()
    if isinstance(admin, Response):
        return admin
    return render_console("console_home.html", title=t("console.title.home"))
