"""Plotly figures of the lesson pages: pure functions of the lessons' results, one module per page."""
