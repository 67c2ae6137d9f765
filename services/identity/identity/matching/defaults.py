"""Placeholder; regenerated below."""

from typing import Any

DEFAULT_PARAMETERS: dict[str, Any] = {
    "source": "hand-set placeholder",
    "prior": 1e-4,
    "comparisons": {
        "given_name": {"m": {"exact": 0.85, "translit": 0.02, "close": 0.06, "partial": 0.03, "different": 0.04},
                       "u": {"exact": 0.003, "translit": 0.001, "close": 0.003, "partial": 0.05, "different": 0.943}},
        "surname": {"m": {"exact": 0.85, "translit": 0.02, "close": 0.06, "partial": 0.03, "different": 0.04},
                    "u": {"exact": 0.002, "translit": 0.001, "close": 0.003, "partial": 0.04, "different": 0.954}},
        "birth_date": {"m": {"exact": 0.9, "close": 0.07, "different": 0.03}, "u": {"exact": 0.0001, "close": 0.002, "different": 0.9979}},
        "street_number": {"m": {"exact": 0.9, "close": 0.05, "different": 0.05}, "u": {"exact": 0.02, "close": 0.1, "different": 0.88}},
        "address": {"m": {"exact": 0.85, "close": 0.08, "partial": 0.03, "different": 0.04}, "u": {"exact": 0.0005, "close": 0.001, "partial": 0.03, "different": 0.9685}},
        "address_detail": {"m": {"exact": 0.85, "close": 0.08, "partial": 0.03, "different": 0.04}, "u": {"exact": 0.0005, "close": 0.001, "partial": 0.03, "different": 0.9685}},
        "locality": {"m": {"exact": 0.9, "close": 0.05, "partial": 0.02, "different": 0.03}, "u": {"exact": 0.002, "close": 0.002, "partial": 0.03, "different": 0.966}},
        "postcode": {"m": {"exact": 0.9, "close": 0.06, "different": 0.04}, "u": {"exact": 0.002, "close": 0.02, "different": 0.978}},
        "state": {"m": {"exact": 0.95, "different": 0.05}, "u": {"exact": 0.2, "different": 0.8}},
        "phone": {"m": {"exact": 0.6, "close": 0.05, "different": 0.35}, "u": {"exact": 0.00001, "close": 0.0001, "different": 0.99989}},
        "email": {"m": {"exact": 0.5, "same_local_part": 0.1, "close": 0.05, "different": 0.35}, "u": {"exact": 0.00001, "same_local_part": 0.0001, "close": 0.001, "different": 0.99889}},
    },
}
