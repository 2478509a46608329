"""The guides' content moved into the content package (storage/content/guides.py); this name stays importable for
handlers/guides.py and storage/guides.py, which other parts of the house order own. Point them to
storage.content.guides and this module can go."""

from storage.content.guides import Guide

__all__ = ["Guide"]
