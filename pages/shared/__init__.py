"""Helpers the dashboard pages share (not pages themselves)."""
