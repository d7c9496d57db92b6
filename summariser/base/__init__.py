"""The bottom layer: errors, shared types, version constants, and the engine interface; imports nothing of the project."""
