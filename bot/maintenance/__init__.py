"""Scheduled maintenance (DESIGN §1.6): `#maintenance`, its timers and what they announce.

`rules` decides (pure), `extension` applies the chat commands inside the desk's transaction,
`timers` runs the heads-up / start / end-question timers on the leader.
"""
