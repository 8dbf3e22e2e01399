"""casestudy: a qualitative case-study toolkit for research on NHS provider collaboratives."""

__version__ = "0.1.0"


def _import_sqlite_utils_without_pandas() -> None:
    """Import sqlite-utils without the pandas and numpy it loads only to map their scalar types.

    ``import sqlite_utils`` imports pandas and numpy (about 0.6 s) for two entries of its
    column-type table; casestudy stores only Python values, and every command imports
    sqlite-utils, so ``casestudy --help`` would pay for them. Both are hidden while it loads
    (unless already loaded), and the type table resolves numpy scalars by name if one ever
    reaches it. Nothing else changes: pandas still imports normally where it is used.
    """
    import sys

    if "sqlite_utils" in sys.modules:
        return
    hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # makes `import name` raise ImportError, which sqlite-utils expects
    try:
        import sqlite_utils.db
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    if hidden:
        sqlite_utils.db.COLUMN_TYPE_MAPPING = _ColumnTypes(sqlite_utils.db.COLUMN_TYPE_MAPPING)


class _ColumnTypes(dict):
    """sqlite-utils' Python type → SQLite type table, also answering for numpy/pandas scalars."""

    def __missing__(self, kind):
        name, module = getattr(kind, "__name__", ""), getattr(kind, "__module__", "")
        if module.startswith("numpy") and ("int" in name or name == "bool_"):
            return "INTEGER"
        if module.startswith("numpy") and "float" in name:
            return "REAL"
        if module.startswith("pandas") and name == "Timestamp":
            return "TEXT"
        raise KeyError(kind)


_import_sqlite_utils_without_pandas()
