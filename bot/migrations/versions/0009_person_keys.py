"""Person keys: the keys that name one person, compared for a duplicate open request
(bot/subject_keys.py), apart from the subject keys (which also hold a domain's, a display
name's and a DN's, shared by many people).

Requests stored before keep NULL: `RequestStore.open_for` compares their subject keys,
which hold the same person's mail, UPN, GUID and ids, so an open one still blocks its
own person. (The values behind the keys are HMACs whose secret a migration does not
hold, so they cannot be recomputed here.)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_column

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Checked first: SQLite commits DDL at once, so a run that broke off may have done it.
    if not has_column("requests", "person_keys"):
        op.add_column(
            "requests", sa.Column("person_keys", sa.JSON(none_as_null=True), nullable=True)
        )


def downgrade() -> None:
    op.drop_column("requests", "person_keys")
