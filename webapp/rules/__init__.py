"""Skatteverket's rates and rules as data, one JSON file per income year (`se-YYYY.json`), and
the foreign per-diem tables Skatteverket publishes (`foreign/utlandstraktamente-YYYY.csv`).

Next year is a data change: add `se-2027.json` (and its foreign table when published). The code
that reads these files is `webapp.services.rates`.
"""
