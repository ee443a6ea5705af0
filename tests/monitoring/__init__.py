"""monitoring/: the alert rules under promtool, a real Prometheus scraping a real agent."""
