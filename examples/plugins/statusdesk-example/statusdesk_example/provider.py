"""`notify`: a paging provider that POSTs every page to an HTTP endpoint as JSON.

    paging:
      providers:
        notify: {url: http://127.0.0.1:9000/pages, token: "${NOTIFY_TOKEN}"}

      escalation_managers:
        - {name: bob, contacts: {notify: "@bob"}}   # a contact kind of its own

It reaches the escalation managers with a `notify` contact.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import aiohttp
from pydantic import AfterValidator, SecretStr, StrictInt

from bot.config.fields import ConfigModel, HttpUrl, NonEmptyStr, PositiveDuration, fail
from bot.config.models import Contacts
from bot.core.ports import DeliveryRejected, DeliveryUnavailable
from bot.paging.delivery import ACKNOWLEDGE, RESOLVE, TRIGGER, PageEvent
from bot.paging.plugin import PagingProviderPlugin, ProviderContext


def _priority(value: int) -> int:
    if not 1 <= value <= 5:
        raise fail("must be 1-5")  # shown as `paging.providers.notify.priority: must be 1-5`
    return value


class NotifyConfig(ConfigModel):
    """`paging.providers.notify`: the schema statusdesk validates the key with."""

    url: HttpUrl
    token: SecretStr | None = None
    priority: Annotated[StrictInt, AfterValidator(_priority)] = 3
    timeout: PositiveDuration = timedelta(seconds=10)


class Notify:
    name = "notify"                    # the entry point's name, the configuration key
    CONFIG_SCHEMA = NotifyConfig
    CONTACT_SCHEMA = NonEmptyStr       # the type of escalation_managers[].contacts.notify
    contacts = ("notify",)             # the contact kinds it delivers to
    actions = frozenset({TRIGGER, ACKNOWLEDGE, RESOLVE})

    def __init__(self, config: NotifyConfig, http: aiohttp.ClientSession) -> None:
        self._config = config
        self._http = http

    @classmethod
    def from_config(cls, config: NotifyConfig, context: ProviderContext) -> Notify:
        return cls(config, context.http)

    def reaches(self, contacts: Contacts) -> bool:
        return getattr(contacts, "notify", None) is not None

    async def send(self, event: PageEvent) -> None:
        headers: dict[str, str] = {}
        if self._config.token is not None:
            headers["Authorization"] = f"Bearer {self._config.token.get_secret_value()}"
        document = {"action": event.action, "text": event.summary,
                    "manager": event.manager.name, "incident": event.incident_id,
                    "to": getattr(event.manager.contacts, "notify", None),
                    "priority": self._config.priority, "dedup_key": event.dedup_key}
        timeout = aiohttp.ClientTimeout(total=self._config.timeout.total_seconds())
        try:
            async with self._http.post(self._config.url, json=document, headers=headers,
                                       timeout=timeout) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryUnavailable(f"notify unreachable: {type(error).__name__}") from None
        if status >= 500 or status in (408, 429):
            raise DeliveryUnavailable(f"notify answered {status}")
        if status >= 400:
            raise DeliveryRejected(f"notify answered {status}")


_plugin: PagingProviderPlugin = Notify  # mypy checks the class against the protocol
