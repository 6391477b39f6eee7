"""Output: one escaper, failure text, the report as data and its JSON, Markdown and HTML forms."""
