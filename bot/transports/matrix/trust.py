"""Which devices get the keys to what the bot says in encrypted rooms (`matrix.trust`).

`tofu`: every device is trusted the first time the bot sees it. matrix-nio pins a device's
signing key when it first learns it and refuses a changed key for the same device id (it logs
"Ed25519 key has changed"), so a device that later presents another key never receives room
keys; a genuinely new device (new id) is trusted on first sight like the first one.

`verified`: only the devices listed in `matrix.verified_devices` with their Ed25519 key
(what Element shows as the "session key") receive room keys; every other device is
blacklisted, so it can see that the bot spoke but not what it said.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

log = logging.getLogger("statusdesk.matrix")

Policy = Literal["tofu", "verified"]


def normalize_key(key: str) -> str:
    """Element shows keys in groups of four characters; the store has them unbroken."""
    return "".join(key.split())


def apply_trust(client: Any, users: Iterable[str], policy: Policy,
                verified: Mapping[str, Mapping[str, str]]) -> None:
    """Decide every device of `users` that has no trust decision yet (or, under `verified`,
    whose decision no longer matches the list). `client` is a nio AsyncClient with its
    encryption store loaded."""
    for user in users:
        for device in list(client.device_store.active_user_devices(user)):
            if user == client.user_id and device.id == client.device_id:
                continue
            if policy == "tofu":
                if not (device.verified or device.blacklisted):
                    client.verify_device(device)
                    log.info("trusting %s device %s on first use (key %s)", user, device.id,
                             device.ed25519)
                continue
            expected = verified.get(user, {}).get(device.id)
            if expected is not None and normalize_key(expected) == device.ed25519:
                if not device.verified:
                    client.verify_device(device)
                    log.info("trusting verified %s device %s", user, device.id)
            elif not device.blacklisted:
                client.blacklist_device(device)
                log.warning("not sending room keys to unverified %s device %s (key %s); list "
                            "it in matrix.verified_devices to trust it", user, device.id,
                            device.ed25519)
