"""Rendering for people at a terminal: tables and JSON of results and topology."""
