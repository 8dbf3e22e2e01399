"""Stage 2, coding: the codebook (``codebook``), the spaCy-assisted suggestion engine
(``engine``) and the human review of every suggestion (``review``)."""
