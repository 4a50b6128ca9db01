"""The shared vocabulary of workbench: geometry and records every layer speaks.

This package sits at the bottom of the stack and imports nothing of the project.
"""
