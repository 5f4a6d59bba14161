"""The importer of the legacy plain-text issues."""
