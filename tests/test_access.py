from webapp.models import Role


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_admin_sees_the_settings_menu(client, admin):
    page = client.get("/settings/")
    assert page.status_code == 200
    assert 'href="/settings/"' in page.text


def test_employee_does_not_see_settings_and_gets_403(client, people, auth):
    email = people.user(Role.EMPLOYEE)
    auth.login(email)
    start = client.get("/")
    assert start.status_code == 200
    assert "Inställningar" not in start.text
    forbidden = client.get("/settings/")
    assert forbidden.status_code == 403
    assert "Du har inte behörighet" in forbidden.text


def test_approver_gets_403_on_settings(client, people, auth):
    auth.login(people.user(Role.APPROVER))
    assert client.get("/settings/").status_code == 403


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/finns-inte")
    assert response.status_code == 404
    assert "Sidan finns inte" in response.text


def test_english_is_selectable(client, admin):
    client.post("/lang/en", headers={"Referer": "http://localhost/settings/"})
    page = client.get("/settings/")
    assert "Settings" in page.text
    assert "Inställningar" not in page.text
    client.post("/lang/sv")
    assert "Inställningar" in client.get("/settings/").text


def test_templates_translate_once_per_render_and_outside_render_template_too(app):
    from flask import render_template_string

    plural = (
        "{{ ngettext('%(num)d oanvänd reservkod finns kvar.', "
        "'%(num)d oanvända reservkoder finns kvar.', 2) }}"
    )
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        # render_template: the render's translations, found once
        assert render_template_string("{{ _('Inställningar') }}") == "Settings"
        assert render_template_string(plural) == "2 unused recovery codes left."
        # a template rendered without Flask's context (a macro imported without context)
        assert app.jinja_env.from_string("{{ _('Inställningar') }}").render() == "Settings"
    with app.test_request_context():
        assert render_template_string("{{ _('Inställningar') }}") == "Inställningar"
