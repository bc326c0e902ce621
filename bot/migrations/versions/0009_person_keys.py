"""Person keys: the keys that name one person (bot/workflow/subject_keys.py), one row each per
open request, claimed when it is stored, so a duplicate is refused by the database
whichever of the person's keys two requests resolved; apart from the subject keys, which
also hold a domain's, a display name's and a DN's, shared by many people.

Requests open before keep no rows: `RequestStore.open_for` compares their subject keys,
which hold the same person's mail, UPN, GUID and ids, so an open one still blocks its own
person. (The values behind the keys are HMACs whose secret a migration does not hold, so
they cannot be recomputed here.)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_index, has_table

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_table("request_person_keys"):
        op.create_table(
            "request_person_keys",
            sa.Column("kind", sa.String(16), primary_key=True),
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), nullable=False),
        )
    if not has_index("request_person_keys", "ix_request_person_keys_request_id"):
        op.create_index("ix_request_person_keys_request_id", "request_person_keys", ["request_id"])


def downgrade() -> None:
    op.drop_table("request_person_keys")
