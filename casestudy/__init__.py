"""casestudy: a qualitative case-study toolkit for research on NHS provider collaboratives."""

__version__ = "0.1.0"
