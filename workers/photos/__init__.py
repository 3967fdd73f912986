"""The photos room, in the order a photo goes through it:

    picker.py / inbox.py   where the photos come from: a Picker session the user picks in, or the inbox album
    fanout.py              one ledger row per photo found, each held for its user's turn
    turns.py               fair share: a user's next photos released as earlier ones finish
    albums.py              the user's target album, created once
    upload.py              download -> enhance -> upload one item
    batches.py             batchCreate of a user's uploaded items, and reconciling an uncertain one
    names.py               the file name each upload gets: the user's, with darkroom's marker
    completion.py          a submission is done when its items are; a give-up records why

Imports no actor and no HTTP client: Google is reached through workers.google, pixels through pipelines.
"""
