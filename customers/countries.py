"""ISO 3166-1 alpha-2 country codes, for billing addresses.

The 249 officially assigned codes (as the IANA time zone database's iso3166.tab lists
them): a list that changes a few times a decade, kept here rather than as a dependency.
"""

from django.core.exceptions import ValidationError

_TABLE = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN "
    "BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
    "DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL "
    "GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM "
    "JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
    "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD "
    "SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "
)
COUNTRY_CODES = frozenset(_TABLE.split())
MESSAGE = "is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, JP)."


def country_parse(value: str) -> str:
    """The ISO 3166-1 alpha-2 code a client sent (any case), upper-cased; ValueError when
    it names no country. The one way input countries are read."""
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"{value!r} {MESSAGE}")
    return code


def validate_country_code(value: str) -> None:
    if value and value not in COUNTRY_CODES:
        raise ValidationError(
            "%(value)s " + MESSAGE, params={"value": value}, code="invalid_country"
        )
