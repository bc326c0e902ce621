"""Alembic migrations of the bot's own database; run with `bot.database.migrate`."""
