"""Paper metadata from public sources: arXiv's API and Crossref, for `newsletter add` and
`newsletter check --online`. Only those commands import its modules (never compose); config.py
holds the pure pydantic `settings` model."""
