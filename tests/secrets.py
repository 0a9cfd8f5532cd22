"""The secret values test configurations use: distinctive, so that `tests/secret_scan.py` can
look for them in everything a test run printed or logged and fail the run if one shows up.

Each value contains `sEcr3t` and a random tail, so it matches nothing but itself. Test
configurations that set a password, token or key take it from here rather than inventing one.
"""

from __future__ import annotations

IRC_SERVER_PASSWORD = "sEcr3t-irc-pass-4VqZ8"
IRC_SASL_PASSWORD = "sEcr3t-sasl-pass-Jw2nT"
MATRIX_PASSWORD = "sEcr3t-matrix-pass-9hKd"
MATRIX_ACCESS_TOKEN = "syt_sEcr3t_matrix_token_Hw4rQ"
API_TOKEN = "sEcr3t-api-token-6f1c2e"
PAGERDUTY_ROUTING_KEY = "sEcr3tPdRoutingKey7b3e91c04d2a6f"
"""32 characters, as PagerDuty's Events API v2 requires of an integration key."""
PAGERDUTY_HOOK_SECRET = "sEcr3t-pd-webhook-QmT31f"
OPSGENIE_KEY = "sEcr3t-opsgenie-key-a8d0c2"
WEBHOOK_SECRET = "sEcr3t-webhook-secret-Lp7x"
SMTP_PASSWORD = "sEcr3t-smtp-pass-Ze5u"
GITHUB_TOKEN = "ghp_sEcr3tGithubToken0Yt6"
GITLAB_TOKEN = "glpat-sEcr3t-gitlab-Rb8w"
JIRA_TOKEN = "sEcr3t-jira-token-Nc1v"
SUBSCRIBER_ADDRESS = "subscriber-secr3t-q7mz@example.net"
"""Not a secret, but as private: a subscriber's address must never reach a log line (or a
public document). Lower-case, as statusdesk stores and mails addresses."""
REDMINE_API_KEY = "sEcr3t-redmine-key-Xo4g"
LAUNCHPAD_TOKEN = "sEcr3t-lp-token-Hq2m"
LAUNCHPAD_TOKEN_SECRET = "sEcr3t-lp-secret-Wd9k"

SECRETS: dict[str, str] = {
    "IRC server password": IRC_SERVER_PASSWORD,
    "IRC SASL password": IRC_SASL_PASSWORD,
    "Matrix password": MATRIX_PASSWORD,
    "Matrix access token": MATRIX_ACCESS_TOKEN,
    "status page api_token": API_TOKEN,
    "PagerDuty routing key": PAGERDUTY_ROUTING_KEY,
    "PagerDuty webhook secret": PAGERDUTY_HOOK_SECRET,
    "Opsgenie API key": OPSGENIE_KEY,
    "webhook secret": WEBHOOK_SECRET,
    "SMTP password": SMTP_PASSWORD,
    "GitHub token": GITHUB_TOKEN,
    "GitLab token": GITLAB_TOKEN,
    "Jira token": JIRA_TOKEN,
    "subscriber's address": SUBSCRIBER_ADDRESS,
    "Redmine API key": REDMINE_API_KEY,
    "Launchpad token": LAUNCHPAD_TOKEN,
    "Launchpad token secret": LAUNCHPAD_TOKEN_SECRET,
}
"""Name → value of every secret above, for the scanner."""

assert len(PAGERDUTY_ROUTING_KEY) == 32
