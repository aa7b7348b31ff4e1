"""transfer recording: a transfer's lines are recorded in parts of whole reports while the
worker already sends the first ones; `recording` is True until the last part is in (or the
worker or the reaper ended the transfer first). Every existing transfer is fully recorded
(issue 15).

Revision ID: 0013_transfer_recording
Revises: 0012_transfer_line_indexes
Create Date: 2026-12-05 06:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_transfer_recording"
down_revision = "0012_transfer_line_indexes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recording", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        batch_op.drop_column("recording")
