"""Prefect flows that wire the steps in `tasks` together."""
