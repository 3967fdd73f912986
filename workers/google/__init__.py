"""The Google boundary: OAuth, ID tokens, Picker and Library calls, media bytes.

The only package that imports google-auth, googleapiclient or an HTTP client. Their exceptions are
translated here, once, into workers.errors.
"""
