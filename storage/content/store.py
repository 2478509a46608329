"""Keeping the current content, reloading it after edits; the last good content stays when an edit breaks it."""

from __future__ import annotations

import os
from pathlib import Path

from storage.content.errors import ContentError, Problem
from storage.content.loader import _Parsed, _load
from storage.content.model import _YAML_SUFFIXES, SPACES_FOLDER, WHATS_ON_FOLDER, Content

class ContentStore:
    """The current content, reloaded after editors change the files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._parsed_files: dict[str, _Parsed] = {}  # unchanged files are not parsed again on reload
        self._snapshot = self._disk_snapshot()
        self.current: Content = _load(self.directory, self._parsed_files)

    def reload(self) -> list[Problem]:
        """Load the files again. On problems, keep serving the last good content and return them."""
        self._snapshot = self._disk_snapshot()  # taken first: an edit during loading triggers another reload
        try:
            self.current = _load(self.directory, self._parsed_files)
        except ContentError as error:
            return error.problems
        return []

    def changed_on_disk(self) -> bool:
        """Whether any content file was added, removed or modified since the last (re)load attempt."""
        return self._disk_snapshot() != self._snapshot

    def _disk_snapshot(self) -> frozenset[tuple[str, int, int]]:
        entries = []
        # Guides and their pictures too: a new screenshot is an edit like any other (storage/content/guides.py).
        folders = (self.directory, self.directory / SPACES_FOLDER, self.directory / WHATS_ON_FOLDER, self.directory / "guides",
                   self.directory / "guides" / "pictures")
        for folder in folders:
            try:
                with os.scandir(folder) as listing:
                    for entry in listing:
                        if (entry.name.endswith(_YAML_SUFFIXES) or folder.name == "pictures") and entry.is_file():
                            status = entry.stat()
                            entries.append((entry.path, status.st_mtime_ns, status.st_size))
            except FileNotFoundError:
                continue
        return frozenset(entries)
