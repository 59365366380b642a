"""Tests of monitoring: reference profiles, drift, logs and reports."""
