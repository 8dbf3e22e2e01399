"""Moved to :mod:`casestudy.textshape` (core: the publish stage reads text shapes too, and
consent/ may not import ingest/). Kept so that ``from casestudy.ingest.textshape import …`` works."""

from casestudy.textshape import *  # noqa: F401,F403
from casestudy.textshape import __all__  # noqa: F401
