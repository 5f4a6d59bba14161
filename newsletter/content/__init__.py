"""Content: models, readers (front matter + Markdown), writers, the one atomic writer."""
