"""Render: Jinja2 -> MJML -> HTML (CSS inlined), and Markdown -> plaintext."""
