"""Bug trackers behind one protocol (`tracker.Tracker`), chosen by a bug's URL (`registry`)."""
