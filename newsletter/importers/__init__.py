"""Importers of content written elsewhere."""
