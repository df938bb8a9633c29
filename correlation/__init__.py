"""Fault detection and correlation: per-path change detection with hysteresis, and the
classification of what broke (a cable, a region's access, the landing station, one path).

Pure: rounds in, path states, findings and event transitions out.
"""
