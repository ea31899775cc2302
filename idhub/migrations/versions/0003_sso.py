"""Single sign-on: signing keys, authorization codes, sessions, credentials, client fields.

Revision ID: 0003_sso
Revises: 0002
Create Date: 2026-12-02 00:25:43.642112
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sso"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sso_login_throttle",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sso_login_throttle")),
    )
    op.create_table(
        "sso_signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_sso_signing_key")),
    )
    op.create_table(
        "person_action_token",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_action_token_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_action_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_person_action_token_token_hash")),
    )
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_action_token_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "person_credential",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_credential_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_credential")),
    )
    op.create_table(
        "person_recovery_code",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_recovery_code_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_recovery_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_person_recovery_code_code_hash")),
    )
    with op.batch_alter_table("person_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_recovery_code_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "sso_consent",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_sso_consent_client_id_oauth_client"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_sso_consent_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", "client_id", name=op.f("pk_sso_consent")),
    )
    op.create_table(
        "sso_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_sso_session_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_sso_session_secret_hash")),
    )
    with op.batch_alter_table("sso_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_session_person_id"), ["person_id"], unique=False)

    op.create_table(
        "oauth_authorization_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=16), nullable=True),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_oauth_authorization_code_client_id_oauth_client"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_oauth_authorization_code_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sso_session.id"],
            name=op.f("fk_oauth_authorization_code_session_id_sso_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_authorization_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oauth_authorization_code_code_hash")),
    )
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_authorization_code_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oauth_authorization_code_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oauth_authorization_code_session_id"), ["session_id"], unique=False
        )

    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "client_type", sa.String(length=16), nullable=False, server_default="confidential"
            )
        )
        batch_op.add_column(
            sa.Column("redirect_uris", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("first_party", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("oauth_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("refresh_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("refresh_rotated_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("family_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_oauth_token_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_token_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_token_session_id"), ["session_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_oauth_token_refresh_token_hash"), ["refresh_token_hash"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_oauth_token_session_id_sso_session"),
            "sso_session",
            ["session_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_oauth_token_person_id_person"), "person", ["person_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_token", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_oauth_token_person_id_person"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_oauth_token_session_id_sso_session"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_oauth_token_refresh_token_hash"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_oauth_token_session_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_token_person_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_token_family_id"))
        batch_op.drop_column("family_id")
        batch_op.drop_column("refresh_rotated_at")
        batch_op.drop_column("refresh_expires_at")
        batch_op.drop_column("refresh_token_hash")
        batch_op.drop_column("session_id")
        batch_op.drop_column("person_id")

    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("first_party")
        batch_op.drop_column("backchannel_logout_uri")
        batch_op.drop_column("post_logout_redirect_uris")
        batch_op.drop_column("redirect_uris")
        batch_op.drop_column("client_type")

    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_code_session_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_code_person_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_code_client_id"))

    op.drop_table("oauth_authorization_code")
    with op.batch_alter_table("sso_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_session_person_id"))

    op.drop_table("sso_session")
    op.drop_table("sso_consent")
    with op.batch_alter_table("person_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_recovery_code_person_id"))

    op.drop_table("person_recovery_code")
    op.drop_table("person_credential")
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_action_token_person_id"))

    op.drop_table("person_action_token")
    op.drop_table("sso_signing_key")
    op.drop_table("sso_login_throttle")
