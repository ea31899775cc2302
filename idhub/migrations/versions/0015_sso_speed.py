"""Authorization codes found by (client, nonce): the nonce check of every sign-on no
longer scans every code the app was ever given

Revision ID: 0015_sso_speed
Revises: 0011_backchannel_logout
Create Date: 2026-12-05 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_sso_speed"
down_revision: str | None = "0014_app_passwords"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.create_index(
            "ix_oauth_authorization_code_client_nonce", ["client_id", "nonce"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_authorization_code_client_nonce")
