"""nmbrs rest: items first seen over REST have no SOAP id; one row per REST GUID

Revision ID: 0007_nmbrs_rest_more
Revises: 0005_nmbrs_rest
Create Date: 2026-11-24 12:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_nmbrs_rest_more"
down_revision = "0005_nmbrs_rest"
branch_labels = None
depends_on = None

TABLES = ("wage_type", "cost_unit", "cost_center", "department", "payroll_employee")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("nmbrs_id", existing_type=sa.Integer(), nullable=True)
            batch_op.create_unique_constraint(f"uq_{table}_rest_id", ["recipient_id", "rest_id"])


def downgrade():
    for table in TABLES:
        # Items only REST knows have no SOAP id: they cannot stay in a SOAP-only schema.
        op.execute(sa.text(f"DELETE FROM {table} WHERE nmbrs_id IS NULL"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_rest_id", type_="unique")
            batch_op.alter_column("nmbrs_id", existing_type=sa.Integer(), nullable=False)
