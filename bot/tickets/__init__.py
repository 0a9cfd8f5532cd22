"""Filing action items as tickets (DESIGN §1.7, `#action A7 file`).

`extension` turns the core's `ActionFilingRequested` (and, with
`postmortem.file_every_action`, every new item) into an outbox effect inside the command's
transaction; `deliverer` carries it out, exactly once across crashes (the idempotency marker
the tracker is searched for, the ticket recorded as soon as it exists); `refresher` keeps
the tickets' states fresh like playbook bugs; `runtime` builds the three from the config.
"""
