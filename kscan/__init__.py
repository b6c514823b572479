"""kscan: find memory-layout assumptions in Linux mm code before review does."""

__version__ = "0.1.0"
