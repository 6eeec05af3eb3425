"""Where the stages run: :mod:`.local` (this process) and :mod:`.ray` (a Ray instance or cluster).

Both give the frame loop (:mod:`..loop`) the same interface: ``prepare(job, info)``,
``reset()``, ``warm(rec)``, ``map(records, job, info, reset=...)``, ``local_stages`` and ``close()``.
"""
