"""Tax ids (VAT numbers and the like) checked with python-stdnum: by the EU VAT rules when
the number starts with an EU country prefix, else by its country's own format and
checksum where stdnum knows one. A number of a country stdnum does not know is accepted
as typed: nothing can be checked, and refusing it would block a legal customer."""

from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberError

EU_PREFIXES = {"EL": "gr", "XI": "gb"} | {cc.upper(): cc for cc in eu_vat.MEMBER_STATES}


def _module(number: str, country: str):
    prefix = number[:2].upper()
    if prefix in EU_PREFIXES and number[2:3].isalnum():
        return eu_vat, EU_PREFIXES[prefix]
    if country:
        for kind in ("vat", "tin"):
            module = get_cc_module(country.lower(), kind)
            if module is not None:
                return module, country.lower()
    return None, country.lower()


def tax_id_check(number: str, country: str = "") -> str | None:
    """None when `number` is a valid tax id (or one that cannot be checked), else a
    message saying what is wrong with it."""
    number = number.strip()
    if not number:
        return None
    module, cc = _module(number, country)
    if module is None:
        return None
    try:
        module.validate(number)
    except NumberError as exc:
        what = "EU VAT number" if module is eu_vat else f"{cc.upper()} tax id"
        return f"“{number}” is not a valid {what}: {str(exc).rstrip('.').lower()}."
    return None
