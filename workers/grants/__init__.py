"""The grants room: a code becomes a grant (exchange), access tokens (single-flight refresh), revocation,
Cross-Account Protection events, and acting for a user on any Google API. Imports no Pillow and no actor."""
