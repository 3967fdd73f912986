"""The Google boundary: OAuth, ID tokens, Picker and Library calls, media bytes.

The only package that imports google-auth or googleapiclient, or speaks HTTP to Google (webhooks to the app's
own backend are workers/notify/webhooks.py). Their exceptions are translated here, once, into workers.errors.
"""
