"""Compose: which papers an issue features, and the draft of an issue (pure)."""
