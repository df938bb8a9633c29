"""Reflectors that answer the agents' two-way probes at a landing station (STAMP)."""
