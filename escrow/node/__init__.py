"""An OPRF node (issue 13): a small HTTP service, run by an independent organisation, holding one share
of the OPRF key and answering the escrow service's signed evaluation requests within quotas.

    settings.py  NodeSettings: share file, pinned service key, quotas, from the environment or flags
    ledger.py    the node's own SQLite record: elements evaluated per request time (never inputs),
                 seen request nonces; quotas are checked and counted there atomically
    app.py       create_node_app(): POST /evaluate, GET /key, GET /stats, GET /healthz

Installed with ``pip install 'escrow[node]'`` (Flask and gunicorn only), never with the server's
dependencies; imports escrow.protocol and escrow.crypto, nothing of the server (tests/test_layers.py).
"""
