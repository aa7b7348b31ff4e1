from webapp.extensions import db
from webapp.models import Organization, Role, User


def test_create_admin_creates_the_organization_when_missing(app, runner):
    result = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "Chef@Nytt.se",
            "--password",
            "långt-lösen-1",
            "--org",
            "Nytt AB",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = User.by_email("chef@nytt.se")
        assert user.role == Role.ADMIN
        assert user.organization.name == "Nytt AB"
        assert user.check_password("långt-lösen-1")


def test_create_admin_refuses_a_short_password(app, runner):
    result = runner.invoke(
        args=["create-admin", "--email", "a@b.se", "--password", "kort", "--org", "X AB"]
    )
    assert result.exit_code != 0
    assert "minst 10 tecken" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def test_seed_demo_is_idempotent_and_prints_the_login(app, runner):
    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert "admin@demo.se" in first.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Organization)) == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 5


def test_rotate_encryption_key_command_runs(app, runner):
    result = runner.invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 0
    assert "Re-encrypted" in result.output
