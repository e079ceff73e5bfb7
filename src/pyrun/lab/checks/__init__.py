"""One checker per level: `check(lab)` raises harness.Failure with a teaching message at the
first thing that is not right yet, and calls lab.ok() for each thing that is."""
