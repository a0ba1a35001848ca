"""The static site: `build(config)` plans, renders and writes it (Jinja pages, courses, JS)."""
