"""The key commands: what scripts read on stdout, what people read on stderr, and refusals as
``CommandError`` text — every write through ``apikeys.services``, audited like the API's.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from apikeys.models import ApiKey, InstallationState
from audit.models import AuditEvent
from tests.apikeys_admin.conftest import RAW_KEY, info_status, make_key, use
from tests.factories import StaffUserFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(name, *args, **options) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(name, *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


# --- createapikey ---------------------------------------------------------------------------


def test_createapikey_prints_the_key_alone_and_it_works_over_http(member):
    out, err = run("createapikey", "--user", member.email, "--name", "ci")

    assert out.endswith("\n") and out.count("\n") == 1
    raw_key = out.strip()
    assert RAW_KEY.fullmatch(raw_key)
    assert info_status(raw_key) == 200
    api_key = ApiKey.objects.get()
    assert (api_key.user, api_key.name, api_key.key_type, api_key.full_access) == (
        member,
        "ci",
        "development",
        True,
    )
    assert api_key.key_prefix in err and raw_key not in err
    assert AuditEvent.objects.filter(event_type="api_key.created", target_id=str(api_key.pk))


def test_createapikey_applies_every_option(member):
    tenant = member.memberships.get().tenant

    out, _ = run(
        "createapikey",
        *("--user", member.email.upper(), "--name", "ops", "--description", "nightly"),
        *("--scopes", "agents:read,read:all", "--type", "production"),
        *("--tenant", str(tenant.pk), "--expires-in", "30d", "--key-manager"),
    )

    api_key = ApiKey.objects.get()
    assert (api_key.scopes, api_key.key_type, api_key.tenant) == (
        ["agents:read", "read:all"],
        "production",
        tenant,
    )
    assert (api_key.description, api_key.key_manager) == ("nightly", True)
    assert info_status(out.strip()) == 200


@pytest.mark.parametrize(
    ("duration", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
    ],
)
def test_createapikey_expires_in_a_duration(member, duration, delta):
    with time_machine.travel("2030-01-01 00:00:00Z", tick=False):
        run("createapikey", "--user", member.email, "--name", "x", "--expires-in", duration)
        assert ApiKey.objects.get().expires_at == timezone.now() + delta


def test_createapikey_makes_an_admin_key_for_a_staff_owner():
    staff = StaffUserFactory()

    out, _ = run("createapikey", "--user", staff.email, "--name", "a", "--type", "admin")

    assert ApiKey.objects.get().key_type == "admin"
    assert info_status(out.strip()) == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody@example.com"], "--user: no user has the email"),
        (["--scopes", "not-a-scope"], "--scopes: Unknown scope"),
        (["--scopes", "admin"], "--scopes: Only an admin key may hold the admin scope."),
        (["--type", "admin"], "--type: Only staff users create admin keys"),
        (["--type", "restricted"], "--scopes: A restricted key needs explicit scopes"),
        (["--expires-in", "30x"], "--expires-in: '30x' is not a duration"),
        (["--expires-in", "0d"], "--expires-in must be more than zero."),
        (["--expires-in", "999999999d"], "--expires-in: '999999999d' is too far in the future"),
        (["--tenant", "not-a-uuid"], "--tenant: no tenant has the id"),
        (["--name", "n" * 101], "--name: Ensure this field has no more than 100 characters."),
    ],
)
def test_createapikey_refuses_bad_input_and_creates_nothing(member, args, message):
    options = {"--user": member.email, "--name": "x"}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))

    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("createapikey", *[part for pair in options.items() for part in pair])

    assert not ApiKey.objects.exists()


def test_createapikey_refuses_a_tenant_the_owner_is_not_in(member):
    tenant = TenantFactory()

    with pytest.raises(CommandError, match="is not a member of the tenant") as refused:
        run("createapikey", "--user", member.email, "--name", "x", "--tenant", str(tenant.pk))

    assert str(refused.value) == (
        f"--tenant: {member.email} is not a member of the tenant {tenant.name!r} ({tenant.pk}); "
        "a key can be bound only to a tenant its owner belongs to."
    )

    assert not ApiKey.objects.exists()


def test_createapikey_refuses_an_unknown_type(member):
    with pytest.raises(CommandError, match="invalid choice"):
        run("createapikey", "--user", member.email, "--name", "x", "--type", "root")


# --- listapikeys ----------------------------------------------------------------------------


def test_listapikeys_prints_a_table_with_exact_usage_and_no_secret(member):
    api_key, raw_key = make_key(member, name="table key", scopes=["agents:read"])
    use(raw_key, times=2)

    out, _ = run("listapikeys")

    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "PREFIX", "NAME"]
    assert row.split()[0:2] == [str(api_key.pk), api_key.key_prefix]
    assert member.email in row and "agents:read" in row
    assert row.split()[-2:] == ["2", "-"]  # requests; credits: unlimited
    assert raw_key not in out and api_key.key_hash not in out


def test_listapikeys_json_is_the_api_key_object(member):
    api_key, raw_key = make_key(member, scopes=["agents:read"])
    use(raw_key)

    out, _ = run("listapikeys", "--json")

    [listed] = json.loads(out)
    assert listed["id"] == str(api_key.pk)
    assert (listed["key_prefix"], listed["scopes"]) == (api_key.key_prefix, ["agents:read"])
    assert (listed["owner"]["email"], listed["request_count"]) == (member.email, 1)
    assert "key_hash" not in listed and "key" not in listed
    assert raw_key not in out


def test_listapikeys_filters_by_user_and_active(member):
    mine, _ = make_key(member, name="mine")
    revoked, _ = make_key(member, name="revoked")
    ApiKey.objects.filter(pk=revoked.pk).update(is_active=False)
    expired, _ = make_key(member, name="expired", expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    theirs, _ = make_key(UserFactory(), name="theirs")

    def prefixes(*args):
        return {key["key_prefix"] for key in json.loads(run("listapikeys", "--json", *args)[0])}

    everything = {k.key_prefix for k in (mine, revoked, expired, theirs)}
    assert prefixes() == prefixes("--all") == everything
    assert prefixes("--user", member.email) == everything - {theirs.key_prefix}
    assert prefixes("--active") == {mine.key_prefix, theirs.key_prefix}
    assert prefixes("--user", member.email, "--active") == {mine.key_prefix}


def test_listapikeys_with_no_keys_says_so_on_stderr(db):
    assert run("listapikeys") == ("", "No API keys.\n")
    assert run("listapikeys", "--json")[0] == "[]\n"


def test_listapikeys_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="--user: no user has the email"):
        run("listapikeys", "--user", "nobody@example.com")


def test_listapikeys_refuses_all_with_active(db):
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("listapikeys", "--all", "--active")


# --- naming a key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "by",
    ["id", "prefix", "prefix as pages show it", "prefix with three dots", "pasted with spaces"],
)
def test_revokeapikey_finds_the_key_by_id_or_prefix(member, by):
    api_key, raw_key = make_key(member)
    name = {
        "id": str(api_key.pk),
        "prefix": api_key.key_prefix,
        "prefix as pages show it": f"{api_key.key_prefix}…",
        "prefix with three dots": f"{api_key.key_prefix}...",
        "pasted with spaces": f" {api_key.key_prefix}… ",
    }[by]

    out, _ = run("revokeapikey", name)

    assert out == f"Revoked {api_key.key_prefix} ({api_key.pk}).\n"
    assert info_status(raw_key) == 401
    assert AuditEvent.objects.filter(event_type="api_key.revoked", target_id=str(api_key.pk))


@pytest.mark.parametrize(
    ("command", "extra"),
    [("activateapikey", []), ("rotateapikey", []), ("deleteapikey", ["--yes"])],
)
@pytest.mark.parametrize("suffix", ["…", "..."])
def test_every_key_command_accepts_the_prefix_as_a_page_shows_it(member, command, extra, suffix):
    api_key, _ = make_key(member, is_active=command != "activateapikey")

    run(command, f"{api_key.key_prefix}{suffix}", *extra)

    if command == "deleteapikey":
        assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    elif command == "rotateapikey":
        assert ApiKey.objects.filter(rotated_from=api_key).exists()
    else:
        assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_revokeapikey_reads_a_whole_key_from_standard_input(member):
    api_key, raw_key = make_key(member)

    out, err = run("revokeapikey", "-", stdin=StringIO(raw_key + "\n"))

    assert out == f"Revoked {api_key.key_prefix} ({api_key.pk}).\n"
    assert raw_key not in out + err
    assert info_status(raw_key) == 401


@pytest.mark.parametrize(
    "command", ["revokeapikey", "activateapikey", "rotateapikey", "deleteapikey"]
)
def test_commands_refuse_a_whole_key_as_an_argument_without_echoing_it(member, command):
    _, raw_key = make_key(member)

    with pytest.raises(CommandError, match="give the whole key on standard input") as refused:
        run(command, raw_key, "--yes") if command == "deleteapikey" else run(command, raw_key)

    assert raw_key not in str(refused.value)
    assert ApiKey.objects.get().is_active
    assert info_status(raw_key) == 200


@pytest.mark.parametrize(
    "command", ["revokeapikey", "activateapikey", "rotateapikey", "deleteapikey"]
)
def test_commands_read_the_key_from_standard_input(member, command):
    api_key, raw_key = make_key(member)
    if command == "activateapikey":
        run("revokeapikey", api_key.key_prefix)
    extra = ["--yes"] if command == "deleteapikey" else []

    out, err = run(command, "-", *extra, stdin=StringIO(raw_key))

    assert api_key.key_prefix in out + err
    assert raw_key not in err


@pytest.mark.parametrize("given", ["", "not a key\n", "kw_" + "A" * 49])
def test_standard_input_without_a_well_formed_key_is_refused(member, given):
    make_key(member)

    with pytest.raises(CommandError, match="Standard input holds no well-formed API key"):
        run("revokeapikey", "-", stdin=StringIO(given))

    assert ApiKey.objects.get().is_active


def test_an_unknown_key_on_standard_input_is_refused_by_its_prefix_only(member):
    _, raw_key = make_key(member)
    ApiKey.objects.all().delete()

    with pytest.raises(CommandError, match="No API key matches the key on standard input") as no:
        run("revokeapikey", "-", stdin=StringIO(raw_key))

    assert raw_key not in str(no.value) and raw_key[:12] in str(no.value)


def test_a_key_at_a_terminal_is_read_without_echo(member, monkeypatch):
    api_key, raw_key = make_key(member)
    terminal = StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr("getpass.getpass", lambda prompt: raw_key)

    out, _ = run("revokeapikey", "-", stdin=terminal)

    assert out == f"Revoked {api_key.key_prefix} ({api_key.pk}).\n"


@pytest.mark.parametrize(
    "command", ["revokeapikey", "activateapikey", "rotateapikey", "deleteapikey"]
)
@pytest.mark.parametrize("name", ["kw_unknownXX", "3f2c0b7e-0000-4000-8000-000000000000", "?"])
def test_commands_refuse_an_unknown_key(db, command, name):
    with pytest.raises(CommandError, match="No API key has the id or prefix"):
        run(command, name)


def test_an_ambiguous_prefix_asks_for_the_id(member):
    first, _ = make_key(member)
    second, _ = make_key(member)
    ApiKey.objects.filter(pk=second.pk).update(key_prefix=first.key_prefix)

    with pytest.raises(CommandError, match="Several keys share the prefix"):
        run("revokeapikey", first.key_prefix)


def test_a_mistyped_key_is_not_echoed_whole(db):
    mistyped = "kw_" + "A" * 49

    with pytest.raises(CommandError) as refused:
        run("revokeapikey", mistyped)

    assert mistyped not in str(refused.value)


# --- activate, rotate, delete ---------------------------------------------------------------


def test_activateapikey_re_enables_a_revoked_key(member):
    api_key, raw_key = make_key(member)
    run("revokeapikey", api_key.key_prefix)

    out, _ = run("activateapikey", api_key.key_prefix)

    assert out == f"Activated {api_key.key_prefix} ({api_key.pk}).\n"
    assert info_status(raw_key) == 200
    assert AuditEvent.objects.filter(event_type="api_key.activated", target_id=str(api_key.pk))


def test_activateapikey_refuses_an_expired_key(member):
    api_key, _ = make_key(member, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=api_key.pk).update(
        is_active=False, expires_at=timezone.now() - timedelta(hours=1)
    )

    with pytest.raises(CommandError, match=r"^An expired key cannot be activated"):
        run("activateapikey", str(api_key.pk))


def test_rotateapikey_prints_the_new_key_alone_and_stops_the_old_one(member):
    api_key, raw_key = make_key(member, scopes=["agents:read"])

    out, err = run("rotateapikey", api_key.key_prefix)

    assert out.count("\n") == 1
    new_key = out.strip()
    assert RAW_KEY.fullmatch(new_key)
    assert (info_status(new_key), info_status(raw_key)) == (200, 401)
    successor = ApiKey.objects.get(rotated_from=api_key)
    assert successor.scopes == ["agents:read"]
    assert "no longer works" in err and new_key not in err
    assert AuditEvent.objects.filter(event_type="api_key.rotated", target_id=str(api_key.pk))


def test_rotateapikey_with_a_grace_period_keeps_the_old_key_for_a_while(member):
    api_key, raw_key = make_key(member)

    _, err = run("rotateapikey", api_key.key_prefix, "--grace-period", "3600")

    assert info_status(raw_key) == 200
    api_key.refresh_from_db()
    assert timedelta(seconds=3590) < api_key.expires_at - timezone.now() <= timedelta(hours=1)
    assert "works until" in err


@pytest.mark.parametrize(
    ("grace", "message"),
    [("-1", "--grace-period: Must be between 0 and 604800."), ("soon", "invalid int value")],
)
def test_rotateapikey_refuses_a_bad_grace_period(member, grace, message):
    api_key, _ = make_key(member)

    with pytest.raises(CommandError, match=message):
        run("rotateapikey", api_key.key_prefix, "--grace-period", grace)

    assert ApiKey.objects.count() == 1


def test_rotateapikey_refuses_a_key_rotated_before(member):
    api_key, _ = make_key(member)
    run("rotateapikey", api_key.key_prefix, "--grace-period", "60")

    with pytest.raises(CommandError) as refused:
        run("rotateapikey", api_key.key_prefix)

    assert str(refused.value) == "This key has already been rotated."  # words, not a code


def test_rotateapikey_refuses_a_revoked_key(member):
    api_key, _ = make_key(member)
    run("revokeapikey", api_key.key_prefix)

    with pytest.raises(CommandError, match="Only an active, unexpired key can be rotated"):
        run("rotateapikey", api_key.key_prefix)


def test_deleteapikey_with_yes_deletes_and_is_audited(member):
    api_key, raw_key = make_key(member)

    out, _ = run("deleteapikey", api_key.key_prefix, "--yes")

    assert out.startswith(f"Deleted {api_key.key_prefix} ({api_key.pk}")
    assert not ApiKey.objects.exists()
    assert info_status(raw_key) == 401
    assert AuditEvent.objects.filter(event_type="api_key.deleted", target_id=str(api_key.pk))


def test_deleteapikey_without_yes_and_no_terminal_deletes_nothing(member):
    api_key, _ = make_key(member)

    with pytest.raises(CommandError, match="Pass --yes"):
        run("deleteapikey", api_key.key_prefix)

    assert ApiKey.objects.filter(pk=api_key.pk).exists()


@pytest.mark.parametrize(("answer", "deleted"), [("yes", True), ("no", False), ("", False)])
def test_deleteapikey_asks_at_a_terminal(member, monkeypatch, answer, deleted):
    api_key, _ = make_key(member)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)

    if deleted:
        run("deleteapikey", api_key.key_prefix)
    else:
        with pytest.raises(CommandError, match="Not deleted"):
            run("deleteapikey", api_key.key_prefix)

    assert ApiKey.objects.filter(pk=api_key.pk).exists() is not deleted


# --- bootstrap ------------------------------------------------------------------------------


def test_bootstrap_prints_the_first_key_alone_and_closes(db):
    out, err = run("bootstrap", "--name", "first")

    assert out.count("\n") == 1
    raw_key = out.strip()
    assert info_status(raw_key) == 200
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.key_type, api_key.key_manager) == ("first", "admin", True)
    assert raw_key not in err
    assert InstallationState.objects.get().keys_ever_issued is True
    assert AuditEvent.objects.filter(event_type="api_key.bootstrap").count() == 1

    with pytest.raises(CommandError, match=r"^Bootstrap is disabled: "):
        run("bootstrap")
    assert ApiKey.objects.count() == 1


def test_bootstrap_is_refused_once_any_key_was_issued(member):
    api_key, _ = make_key(member)
    run("deleteapikey", api_key.key_prefix, "--yes")

    with pytest.raises(CommandError, match=r"^Bootstrap is disabled: "):
        run("bootstrap")

    assert not ApiKey.objects.exists()


def test_bootstrap_is_refused_when_disabled_by_settings(db, settings):
    settings.KEYWARD_BOOTSTRAP_ENABLED = False

    with pytest.raises(CommandError, match=r"^Bootstrap is disabled: "):
        run("bootstrap")

    assert not ApiKey.objects.exists()


def test_bootstrap_refuses_a_name_too_long(db):
    with pytest.raises(CommandError, match="--name: Ensure this field has no more than 100"):
        run("bootstrap", "--name", "n" * 101)

    assert InstallationState.objects.get().keys_ever_issued is False


# --- where keys never land ------------------------------------------------------------------


def test_no_key_from_a_command_lands_in_a_database_dump(member):
    created = run("createapikey", "--user", member.email, "--name", "x")[0].strip()
    rotated = run("rotateapikey", "-", "--grace-period", "60", stdin=StringIO(created))[0].strip()

    dump = StringIO()
    call_command("dumpdata", "apikeys", "audit", stdout=dump)

    assert '"model": "apikeys.apikey"' in dump.getvalue()
    assert created not in dump.getvalue() and rotated not in dump.getvalue()
