"""Stage 3, browse: Datasette over the publish database (``serve``, its ``metadata``,
and the ``plugin`` with the project's pages, highlighting and fast facets)."""
