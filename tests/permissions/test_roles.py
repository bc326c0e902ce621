import pytest

from bot.config import RoleMembers
from bot.errors import ConfigError, NotAllowed
from bot.permissions.authz import Authorizer
from bot.permissions.roles import Role, RoleResolver
from tests.support.clock import Clock


def resolver(lookup=None, clock=None):
    return RoleResolver(
        {
            "viewer": RoleMembers(users=("UVIEW",), usergroups=("SVIEWERS",)),
            "auditor": RoleMembers(users=("UAUD",)),
        },
        usergroup_members=lookup,
        cache_seconds=60,
        clock=clock or Clock(0.0),
    )


def test_listed_user_holds_the_role():
    actor = resolver().actor("UVIEW")
    assert actor.roles == {Role.VIEWER}
    AUTHZ.require(actor, "find")


AUTHZ = Authorizer.from_config(None, four_eyes=True)


def test_unknown_user_is_denied_politely():
    actor = resolver().actor("USTRANGER")
    with pytest.raises(NotAllowed, match="needs the viewer role"):
        AUTHZ.require(actor, "find")


def test_everyone_may_ask_for_help():
    AUTHZ.require(resolver().actor("USTRANGER"), "help")


def test_unknown_command_is_denied_by_default():
    assert not AUTHZ.may(resolver().actor("UVIEW"), "shutdown")


def test_usergroup_membership_grants_the_role_and_is_cached_with_ttl():
    calls = []
    members = {"SVIEWERS": ["UGROUPIE"]}

    def lookup(group):
        calls.append(group)
        return members[group]

    clock = Clock(0.0)
    roles = resolver(lookup, clock)
    assert Role.VIEWER in roles.actor("UGROUPIE").roles
    assert Role.VIEWER in roles.actor("UGROUPIE").roles
    assert calls == ["SVIEWERS"]
    members["SVIEWERS"] = []  # removed from the group in Slack
    clock.now = 61
    assert Role.VIEWER not in roles.actor("UGROUPIE").roles
    assert calls == ["SVIEWERS", "SVIEWERS"]


def test_failed_group_lookup_grants_nothing():
    def lookup(group):
        raise RuntimeError("slack down")

    roles = resolver(lookup)
    assert roles.actor("UGROUPIE").roles == frozenset()


def test_permission_override_from_config():
    roles = resolver()
    authz = Authorizer.from_config({"find": "auditor"}, four_eyes=True)
    assert authz.may(roles.actor("UAUD"), "find")
    assert not authz.may(roles.actor("UVIEW"), "find")


def test_unknown_role_name_in_config_is_an_error():
    with pytest.raises(ConfigError, match="unknown role 'superuser'"):
        RoleResolver({"superuser": RoleMembers()})
