"""Writes and runs for policies: policy and exemption changes, runs, execution, notifications."""
