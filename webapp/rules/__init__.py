"""Skatteverket's rates and rules as data, one JSON file per income year (`se-YYYY.json`), and
the foreign per-diem tables Skatteverket publishes (`foreign/utlandstraktamente-YYYY.csv`).

The domestic per-diem amounts of each file follow from its `price_base_amount` (0.5 % rounded to
the nearest ten kronor, half day and night half, 70 % after three months, 50 % after two years);
a test checks every shipped file against that derivation (`webapp.services.rates.derive_domestic`).

A year that is not shipped needs no release: an admin enters its prisbasbelopp, mileage amounts
and kostförmån values under *Årets belopp* (or an operator with `flask tax-year set`), confirms
the derived amounts, and imports Skatteverket's foreign table as published
(`webapp.services.tax_years`). A shipped file for a year wins over entered values. The code that
reads these files is `webapp.services.rates`.
"""
