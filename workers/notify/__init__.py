"""The notify room: the outbox's rows delivered at least once, as Standard Webhooks to the app's backend
(webhooks.py) and as FCM pushes to its devices (push.py), on one schedule of retries (delivery.py).
Imports no actor and no Pillow; FCM is reached through workers.google, webhooks with requests, here."""
