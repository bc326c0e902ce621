"""The `/mim` command language: every command declared once (table) and text parsed
into a typed command (parser)."""
