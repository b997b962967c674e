"""The UI's static files (index.html, ES modules, style.css), shipped as package data.

This is a package only so that setuptools ships the files with ``reference_ui``.
"""
