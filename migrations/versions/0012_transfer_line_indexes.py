"""transfer line indexes: no index on a line's status alone. Every query of lines by status
also names their transfer or employee (indexed); the status index only cost time, as each
of a transfer's 10,000 lines moves through pending, sending and sent (issue 15).

Revision ID: 0012_transfer_line_indexes
Revises: 0011_tax_years
Create Date: 2026-12-05 01:55:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_transfer_line_indexes"
down_revision = "0011_tax_years"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transfer_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_line_status"))


def downgrade():
    with op.batch_alter_table("transfer_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_line_status"), ["status"], unique=False)
