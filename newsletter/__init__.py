"""newsletter: paper files in, a responsive "Research Update" email out."""

__version__ = "0.1.0"
