"""Playbooks: what to do right now, and the bugs that keep each workaround necessary.

`store` reads the entries (Markdown with YAML front matter), `lookup` finds them forgivingly,
`trackers/` ask bug trackers for live state, `bug_states` caches and bounds those requests,
`extension` plugs `#playbook` into the desk, `pages` serves `/playbooks`, `check` is the CLI.
"""
