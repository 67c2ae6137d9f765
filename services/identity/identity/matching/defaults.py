"""Default parameters of the probabilistic matcher. Generated: do not edit by hand.

    .venv/bin/python bench/identity_accuracy.py --write-defaults

m and u of the name, birth-date and address comparisons were estimated without labels on the FEBRL3
records (identity.matching.estimate: u from random pairs, m by EM on birth-date and postcode blocks).
FEBRL has no phone or email: those keep hand-set values (PHONE_EMAIL_RATIONALE).

The prior is not FEBRL3's (0.000523: one duplicate pair in ~1,900 among 5,000 records) but
``prior_for(1_000_000, 0.2)``: a base of a million customers where one in five incoming records that
matched no identifier exactly belongs to someone already known. Set it for your base (MATCHING.md).
"""

from typing import Any

PHONE_EMAIL_RATIONALE = (
    "Same phone/email: m is low (people change numbers, keep several addresses) and u tiny (a shared "
    "family phone or address is the main coincidence). These pairs only reach the matcher when no "
    "deterministic rule fired, so 'different' is common among true matches."
)

DEFAULT_PARAMETERS: dict[str, Any] = {
    "source": "m/u estimated without labels on FEBRL3 (phone, email hand-set); prior for 1M customers",
    "prior": 2e-07,
    "comparisons": {
        "given_name": {
            "m": {
                "exact": 0.662875,
                "translit": 0.01565,
                "close": 0.146594,
                "partial": 0.0307712,
                "different": 0.14411,
            },
            "u": {
                "exact": 0.00308397,
                "translit": 0.000455866,
                "close": 0.0013208,
                "partial": 0.00725942,
                "different": 0.98788,
            },
        },
        "surname": {
            "m": {
                "exact": 0.641039,
                "translit": 0.0243513,
                "close": 0.203284,
                "partial": 0.0326488,
                "different": 0.0986773,
            },
            "u": {
                "exact": 0.00276917,
                "translit": 0.000250816,
                "close": 0.000906527,
                "partial": 0.00438585,
                "different": 0.991688,
            },
        },
        "birth_date": {
            "m": {"exact": 0.928804, "close": 0.0124063, "different": 0.05879},
            "u": {"exact": 3.01775e-05, "close": 0.00116624, "different": 0.998804},
        },
        "street_number": {
            "m": {"exact": 0.806217, "close": 0.066222, "different": 0.127561},
            "u": {"exact": 0.0136497, "close": 0.220206, "different": 0.766144},
        },
        "address": {
            "m": {"exact": 0.702956, "close": 0.262647, "partial": 0.000292217, "different": 0.0341049},
            "u": {"exact": 0.000349674, "close": 0.00020888, "partial": 0.00998368, "different": 0.989458},
        },
        "address_detail": {
            "m": {"exact": 0.658283, "close": 0.30265, "partial": 0.0117649, "different": 0.0273019},
            "u": {"exact": 0.000480794, "close": 0.000272268, "partial": 0.00267842, "different": 0.996569},
        },
        "locality": {
            "m": {"exact": 0.673834, "close": 0.226676, "partial": 0.0114796, "different": 0.0880104},
            "u": {"exact": 0.000895534, "close": 0.000476541, "partial": 0.00272126, "different": 0.995907},
        },
        "postcode": {
            "m": {"exact": 0.768264, "close": 0.20237, "different": 0.0293652},
            "u": {"exact": 0.000888193, "close": 0.0130004, "different": 0.986111},
        },
        "state": {
            "m": {"exact": 0.942619, "different": 0.0573815},
            "u": {"exact": 0.211806, "different": 0.788194},
        },
        "phone": {
            "m": {"exact": 0.6, "close": 0.05, "different": 0.35},
            "u": {"exact": 1e-05, "close": 0.0001, "different": 0.99989},
        },
        "email": {
            "m": {"exact": 0.5, "same_local_part": 0.1, "close": 0.05, "different": 0.35},
            "u": {"exact": 1e-05, "same_local_part": 0.0001, "close": 0.001, "different": 0.99889},
        },
    },
}
