"""A strict local stand-in for Google's OAuth, certs, Picker, Photos Library and media endpoints.

It imports nothing from darkroom; darkroom imports it only in the demo command.
"""
