"""Monitoring: prediction logs to drift, performance and reports."""
