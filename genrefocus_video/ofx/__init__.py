"""The OpenFX face: descriptor generated from the schema, the bridge protocol and the bridge server.

The C plugin in ``plugins/ofx`` is what hosts load; it forwards renders over a Unix domain socket
to :mod:`.server`, one Python process that holds the renderer (and models) for every host thread.
This package is a face: the core never imports it.
"""
