"""Settings and their defaults; the Celery configuration derived from them."""

from config.settings import PREFIX, Settings, SettingsError, settings_table

__all__ = ["PREFIX", "Settings", "SettingsError", "settings_table"]
