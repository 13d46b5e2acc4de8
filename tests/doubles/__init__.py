"""Test doubles of services that cannot run on these machines (see each module's docstring)."""
