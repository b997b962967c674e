"""``durable bench``: measure the reference stack against Restate on the same machine, in one run.

Why a package of its own: the benchmark starts real processes (our server, Restate 1.7.12, two
hypercorn-served SDK endpoints) and drives them over loopback, like a user would. It reuses the
conformance kit's launchers (``conformance.stack``) so both tools start the stacks the same way,
and it keeps its statistics and /proc readers pure and small so they can be unit-tested without
starting anything.

Modules: ``stats`` (percentiles, summaries, ratios), ``procstat`` (CPU and RSS from /proc),
``stacks`` (start a stack serving the bench services), ``load`` (the load generator: a
lean asyncio HTTP/1.1 keep-alive client), ``scenarios`` (throughput, step scaling, large-journal resume, memory), ``runner``
(ABAB alternation and the result document), ``report`` (tables), ``plot`` (the figure) and
``cli`` (``register(app)`` adds ``bench``).
"""
