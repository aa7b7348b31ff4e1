"""in doubt: a transfer line remembers which batch it went out in (a read-back decides a batch
as a whole); a sync run keeps each attempt (when it ran, how it ended) for the history's Tid;
a recipient keeps a hash per synced catalogue (an unchanged catalogue is not diffed again).

Revision ID: 0010_in_doubt
Revises: 0009_accounts
Create Date: 2026-12-04 17:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_in_doubt'
down_revision = '0009_accounts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('transfer_line') as batch_op:
        batch_op.add_column(sa.Column('batch', sa.Integer(), nullable=True))
    with op.batch_alter_table('sync_run') as batch_op:
        batch_op.add_column(sa.Column('attempt_log', sa.JSON(), nullable=True))
    with op.batch_alter_table('report_recipient') as batch_op:
        batch_op.add_column(sa.Column('catalogue_hashes', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('report_recipient') as batch_op:
        batch_op.drop_column('catalogue_hashes')
    with op.batch_alter_table('sync_run') as batch_op:
        batch_op.drop_column('attempt_log')
    with op.batch_alter_table('transfer_line') as batch_op:
        batch_op.drop_column('batch')
