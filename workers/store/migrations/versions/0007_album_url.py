"""albums.url: the album's productUrl, which the app opens when a submission is done

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nullable, no default: adding it locks nothing for long, and the previous release's workers, which do not
    # know it, keep working beside this one
    with op.batch_alter_table("albums") as batch:
        batch.add_column(sa.Column("url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("albums") as batch:
        batch.drop_column("url")
