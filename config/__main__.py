"""Print the settings table for the README: ``python -m config``."""

from config.settings import settings_table

print(settings_table())
