"""Usage lines and short help texts, as the bot answers them in chat.

Every string here is a single line (no CR/LF) well under the ~400 characters an IRC reply can
carry once the bot's prefix and the sender's nick are added. `USAGE` is keyed by the command's
name as users type it; `commands.grammar.ParseError.command` and `commands.grammar.command_name`
use the same keys, so `USAGE[error.command]` is always `error.usage` (except for the help the
bot gives when it is addressed by name with something it does not understand).
"""

from __future__ import annotations

__all__ = ["GENERAL_HELP", "INCIDENT_HELP", "STATUS_HELP", "USAGE"]

STATUS_HELP = (
    "#status alert TEXT · #status notice TEXT · #status log TEXT · #status ok [TEXT] — "
    "alert sets the topic of every channel, NOTICEs everywhere and opens an incident; "
    "notice broadcasts; log only goes to the status page; ok clears the alert and restores "
    "the topics"
)

INCIDENT_HELP = (
    "#incident open [sev1-4] TITLE · #incident list · #incident ID · "
    "#incident ID investigating|identified|monitoring|resolved [TEXT] · #incident ID sev N · "
    "#incident ID lead NICK · #incident ID em NICK · #incident ID log · "
    "#incident ID affects NAME[,NAME...] [STATUS] · #incident ID role ROLE NICK · "
    "#log [ID] TEXT — "
    "ID is 12 or #12; sev1 is the worst"
)

GENERAL_HELP = (
    'ask me "what\'s happening?" or say #now · #status help · #incident help · '
    "#log [ID] TEXT · #page [ID] [TEXT] · #ack [ID] · #oncall · #playbook [TOPIC] · "
    "#bug [ID] BUG-URL · #component NAME STATUS · #components · #why [ID] TEXT · "
    "#action [ID] TEXT · #actions [ID] · #success TEXT · #thanks TEXT"
)

USAGE: dict[str, str] = {
    "#status": STATUS_HELP,
    "#status alert": (
        "#status alert TEXT — set the alert: topic of every channel, NOTICE everywhere, "
        "opens an incident"
    ),
    "#status notice": "#status notice TEXT — NOTICE in every channel and a status page log entry",
    "#status log": "#status log TEXT — a status page log entry only",
    "#status ok": (
        "#status ok [TEXT] — clear the alert, restore every topic, resolve the alert incident; "
        "TEXT is broadcast"
    ),
    "#success": "#success TEXT — add TEXT to the status page's Success list",
    "#thanks": "#thanks TEXT — add TEXT to the status page's Thanks list",
    "#incident": INCIDENT_HELP,
    "#incident open": (
        "#incident open [sev1-4] TITLE — open an incident (sev1 is the worst, sev3 if not "
        "given); I answer with its id"
    ),
    "#incident list": "#incident list — the open incidents",
    "#incident ID": "#incident ID — one incident's summary (ID is 12 or #12)",
    "#incident ID STATE": (
        "#incident ID investigating|identified|monitoring|resolved [TEXT] — change the "
        "incident's state"
    ),
    "#incident ID sev": "#incident ID sev N — set the incident's severity, 1 (worst) to 4",
    "#incident ID lead": (
        "#incident ID lead NICK — set the incident lead (IRC nick or @user:server)"
    ),
    "#incident ID em": (
        "#incident ID em NICK — set the escalation manager (IRC nick or @user:server)"
    ),
    "#incident ID log": (
        "#incident ID log — the full incident log: a link to the private export and the last "
        "entries by private message"
    ),
    "#log": (
        "#log [ID] TEXT — a timeline note on incident ID (optional when exactly one incident is "
        "open); #log 12 TEXT is a note on incident 12"
    ),
    "#page": "#page [ID] [TEXT] — page the on-call escalation manager for the incident",
    "#ack": "#ack [ID] — acknowledge your page (stops the escalation)",
    "#oncall": (
        "#oncall — who is on call now and next · #oncall override NICK until YYYY-MM-DD HH:MM "
        "— NICK is on call instead until then (rotation time zone)"
    ),
    "#oncall override": (
        "#oncall override NICK until YYYY-MM-DD [HH:MM] — NICK (an escalation manager) is on "
        "call from now until then, in the rotation's time zone"
    ),
    "#playbook": "#playbook [TOPIC] — the playbook entry, its linked bugs and their live state",
    "#playbook link": "#playbook link TOPIC BUG-URL — link a bug (http(s) URL) to a playbook entry",
    "#bug": "#bug [ID] BUG-URL — link a bug (http(s) URL) to an incident",
    "#now": "#now — the current alert, the open incidents and the status page link",
    "#maintenance": (
        "#maintenance schedule YYYY-MM-DD HH:MM DURATION [on NAME[,NAME...]] TITLE · "
        "#maintenance ID start|complete|cancel [TEXT] · #maintenance list"
    ),
    "#maintenance schedule": (
        "#maintenance schedule YYYY-MM-DD HH:MM DURATION [on NAME[,NAME...]] TITLE — schedule "
        "a maintenance window (time in maintenance.timezone, DURATION like 30m, 2h, 1h30m); "
        "I answer with its id"
    ),
    "#maintenance ID": (
        "#maintenance ID start|complete|cancel [TEXT] — start a window early, complete it, "
        "or cancel it"
    ),
    "#maintenance list": "#maintenance list — upcoming and active maintenance windows",
    "#component": (
        "#component NAME STATUS [TEXT] — set a component's status; STATUS is operational (ok), "
        "degraded_performance (degraded), partial_outage (partial), major_outage (major) or "
        "under_maintenance (maintenance) · #component list"
    ),
    "#component list": "#component list (or #components) — every component with its status",
    "#incident ID affects": (
        "#incident ID affects NAME[,NAME...] [STATUS] — link components to the incident "
        "(default partial_outage); they return to operational when it resolves"
    ),
    "#why": (
        "#why [ID] TEXT — the incident's next Five-Whys entry · #why ID N TEXT — replace "
        "entry N (ID is then required: #why 12 TEXT is a why on incident 12)"
    ),
    "#action": (
        "#action [ID] TEXT [owner NICK] [due YYYY-MM-DD] — a follow-up action item (I answer "
        "with its id, e.g. A7) · #action A7 done|drop [TEXT] · #action A7 file · #actions [ID]"
    ),
    "#action done": "#action A7 done [TEXT] — action item A7 is done",
    "#action drop": "#action A7 drop [TEXT] — action item A7 will not be done",
    "#action file": (
        "#action A7 file — file action item A7 as a ticket in postmortem.file_actions_in"
    ),
    "#actions": (
        "#actions [ID] — open action items (all, or incident ID's) with owner, due date and "
        "ticket state"
    ),
    "#incident ID role": (
        "#incident ID role ROLE NICK — give NICK a role in the incident (one of "
        "incidents.roles; lead and em always exist)"
    ),
}
