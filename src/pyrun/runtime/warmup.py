"""What `create` and `run` start first thing, before ~7 ms of imports: the slow part of
moving a process between cgroups (see pyrun.linux.cgroups.start_migration_warmup)."""

from pyrun.linux.cgroups import start_migration_warmup

__all__ = ["start_migration_warmup"]
