"""Stage 4, export: the Word thematic summary (``word``), REFI-QDA projects and
codebooks (``refi``) and the flat codings table (``spreadsheet``), all read from the
publish database through ``common``."""
