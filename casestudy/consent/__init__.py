"""Consent and privacy: the register (``register``), names and pseudonyms
(``pseudonyms``), and the consent-safe publish database every output reads
(``publish``, prepared for browsing by ``prepare``)."""
