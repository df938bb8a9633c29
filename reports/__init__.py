"""SLA reports for customers: figures, charts, HTML / PDF / JSON, and the status page."""
