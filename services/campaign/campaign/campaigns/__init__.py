"""Campaigns and journeys: definitions, launch/pause/resume, enrollments, measurement, optimization."""
