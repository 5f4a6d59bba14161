"""Mail: the one MIME builder (headers, per-reader slots) and the archive copy of an issue."""
