"""Benchmarks: what the node adds to the wire, against a bare websockets client.

``python -m benchmarks`` runs every case on loopback and writes RESULTS.md; see
README.md in this folder for the cases and how each is measured.
"""
