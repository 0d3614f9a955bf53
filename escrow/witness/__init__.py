"""A witness (issue 15): a small HTTP service, run by an organisation independent of the escrow
operator, that cosigns a transparency log's checkpoint only if it is consistent with every checkpoint
of that log it cosigned before (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature).

    settings.py  WitnessSettings: name, key file, data folder, the log keys it trusts
    state.py     its own SQLite state: per log origin the latest cosigned size and root, never rolled
                 back; refused requests that prove the log misbehaved are kept as evidence
    app.py       create_witness_app(): POST /add-checkpoint, GET /key, GET /logs, GET /healthz

Installed with ``pip install 'escrow[witness]'`` (Flask and gunicorn only), never with the server's
dependencies; imports escrow.protocol, escrow.crypto, escrow.keystore and escrow.errors, nothing of
the server (tests/test_layers.py).
"""
