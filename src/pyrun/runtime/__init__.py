"""The lifecycle operations, one module each (create, start, run, kill, delete, query).

Parent-side orchestration: these run in the `pyrun` process on the host and drive the
children described in pyrun.init.
"""
