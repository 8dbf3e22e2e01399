"""Stage 1, ingest: files in real formats -> sources and excerpts.

``readers`` turns a transcript or document into turns/paragraphs, ``files`` plans and
runs an ingest (manifest, hashes, replacement, consent checks), ``indicators`` loads
routine quantitative data.
"""
