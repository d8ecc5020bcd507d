"""Files on disk below every other layer: atomic writes, safe names, the data folders, bounded array reads."""
