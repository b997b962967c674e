"""The conformance kit: ``durable conformance run | sdk | list | compare``.

Server half: the kit is the client of an implementation's ingress and admin APIs, with the
test services of spec/08 deployed behind it. SDK half: the kit is the server and drives an SDK
endpoint over the NDJSON invoke protocol. Every case cites requirement IDs of ``spec/``; see
``conformance/README.md``.
"""
