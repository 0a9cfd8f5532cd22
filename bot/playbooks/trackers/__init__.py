"""Bug trackers behind one protocol (`tracker.Tracker`), chosen by a bug's URL (`registry`).
The built-in ones declare their own `CONFIG_SCHEMA` and are found through the
`statusdesk.trackers` entry points in pyproject.toml (`plugin`), like any installed one."""
