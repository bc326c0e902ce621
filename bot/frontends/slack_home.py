"""The App Home tab, published with `views.publish`: when a user opens it, and again for
the people a request's change concerns (its requester, approvers, step owners)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from slack_sdk import WebClient

from bot.config import RoleMembers
from bot.logs import log_failure
from bot.render.home import home_view
from bot.services import Services
from bot.workflow.home import home_for, users_to_refresh
from bot.workflow.requests import Request

__all__ = ["SlackHome"]

log = logging.getLogger(__name__)


class SlackHome:
    def __init__(self, client: WebClient, roles: Mapping[str, RoleMembers]) -> None:
        self.client = client
        self.roles = dict(roles)
        self.services: Services | None = None  # attached once the services are built

    def attach(self, services: Services) -> SlackHome:
        self.services = services
        return self

    def publish(self, user_id: str) -> None:
        services = self.services
        if services is None:
            return
        actor = services.roles.actor(user_id)  # roles as they are now
        view = home_for(actor, services.requests, services.authz)
        self.client.views_publish(user_id=user_id, view=home_view(view))

    def refresh(self, request: Request) -> None:
        """Re-publish the homes the change may concern; a failure costs a stale tab only."""
        for user_id in sorted(users_to_refresh(request, self.roles)):
            try:
                self.publish(user_id)
            except Exception as exc:  # noqa: BLE001 - the change itself is committed
                log_failure(log, "home tab of a user not refreshed", exc)
